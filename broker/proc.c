/* proc — see proc.h. */
#include "proc.h"

#include <malloc.h>

void pb_proc_tune(void) { mallopt(M_MXFAST, 0); }
