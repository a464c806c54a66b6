#include <stdio.h>
int main(void) { puts("portbroker"); return 0; }
