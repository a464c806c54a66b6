// JWTs for the auth tests, made by a real library (npm jose), never by portbroker's own code.
//   node jwt_tool.mjs keys DIR                      ES256 + RS256 key pairs: DIR/jwks.json (public),
//                                                   DIR/private.json (private JWKs)
//   node jwt_tool.mjs sign DIR ALG SUB ISS AUD EXP  prints a JWT signed with DIR's ALG key; EXP is
//                                                   seconds from now (negative: already expired)
import { generateKeyPair, exportJWK, importJWK, SignJWT } from 'jose';
import { readFileSync, writeFileSync } from 'node:fs';

const [cmd, dir, ...rest] = process.argv.slice(2);
if (cmd === 'keys') {
  const pub = [], priv = {};
  for (const [alg, kid] of [['ES256', 'es1'], ['RS256', 'rs1']]) {
    const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
    pub.push({ ...(await exportJWK(publicKey)), kid, alg, use: 'sig' });
    priv[alg] = { ...(await exportJWK(privateKey)), kid };
  }
  writeFileSync(`${dir}/jwks.json`, JSON.stringify({ keys: pub }));
  writeFileSync(`${dir}/private.json`, JSON.stringify(priv));
} else if (cmd === 'sign') {
  const [alg, sub, iss, aud, exp] = rest;
  const jwk = JSON.parse(readFileSync(`${dir}/private.json`, 'utf8'))[alg];
  const key = await importJWK(jwk, alg);
  const now = Math.floor(Date.now() / 1000);
  const jwt = await new SignJWT({ sub })
    .setProtectedHeader({ alg, kid: jwk.kid, typ: 'JWT' })
    .setIssuer(iss).setAudience(aud).setIssuedAt(now - 600)
    .setExpirationTime(now + Number(exp))
    .sign(key);
  process.stdout.write(jwt + '\n');
} else {
  console.error('usage: jwt_tool.mjs keys DIR | sign DIR ALG SUB ISS AUD EXP');
  process.exit(2);
}
