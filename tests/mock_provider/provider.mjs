// The second OpenID provider the oidc tests sign in against
// (tests/oidc_algorithms.rs): oauth2-mock-server, an implementation
// independent of oidc-provider (tests/oidc_provider), on loopback, signing
// its tokens with the algorithm asked for.
//
// Environment:
//   ALG: the signing algorithm of its keys, so of its ID tokens (RS256,
//     RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512 or EdDSA, an
//     Ed25519 key).
//   PORT: 0 or unset: a free one.
// Prints `listening <issuer>` on stdout once it accepts connections.
//
// What it is, beyond oauth2-mock-server's defaults:
// - the issuer is `http://127.0.0.1:<port>` (its default names `localhost`);
// - two published signing keys of ALG (a provider in the middle of a key
//   rotation), so an ID token's `kid` picks the key that checks it;
// - discovery advertises ALG as the ID token signing algorithm (its default
//   always says RS256);
// - userinfo answers the profile of its one user (`sub` "johndoe", the
//   mock's), as ID tokens carry only `sub`.
// Its own behaviour, left as it is: the authorization endpoint signs the user
// in at once and redirects back with a code; the token endpoint checks PKCE
// and puts the client id in `aud` and the authorization request's `nonce`
// in the ID token (no `at_hash`).
//
// A test that needs a refused ID token adds `id_token_kid` to the
// authorization URL it follows; the tokens of that code then name in their
// header `kid` another key than the one that signed them:
//   id_token_kid=other: the other published key (an invalid signature);
//   id_token_kid=unpublished: a key id the key set does not have.
import { Events, OAuth2Server } from 'oauth2-mock-server';

const ALGORITHMS = [
  'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA',
];

const USERINFO = {
  name: 'John Doe',
  email: 'johndoe@example.com',
  email_verified: true,
  picture: 'https://example.com/johndoe.png',
};

async function main() {
  const alg = process.env.ALG ?? '';
  if (!ALGORITHMS.includes(alg)) throw new Error(`ALG must be one of ${ALGORITHMS.join(', ')}, not "${alg}"`);

  const server = new OAuth2Server();
  const options = alg === 'EdDSA' ? { crv: 'Ed25519' } : {};
  const kids = [];
  for (let i = 0; i < 2; i += 1) kids.push((await server.issuer.keys.generate(alg, options)).kid);

  // The authorization codes whose tokens get another `kid`, and which.
  const forged = new Map();
  server.service.on(Events.BeforeAuthorizeRedirect, (redirect, req) => {
    const mode = new URL(req.url, 'http://localhost').searchParams.get('id_token_kid');
    const code = redirect.url.searchParams.get('code');
    if (mode && code) forged.set(code, mode);
  });
  server.service.on(Events.BeforeTokenSigning, (token, req) => {
    const mode = forged.get(req.body?.code);
    // Both tokens of the exchange: the relying party checks only the ID
    // token's signature.
    if (mode === 'other') token.header.kid = kids.find((kid) => kid !== token.header.kid);
    else if (mode === 'unpublished') token.header.kid = 'unpublished-key';
    else if (mode) throw new Error(`unknown id_token_kid "${mode}"`);
  });
  server.service.on(Events.BeforeResponse, (_response, req) => forged.delete(req.body?.code));
  server.service.on(Events.BeforeWellKnownOpenIdConfiguration, (discovery) => {
    discovery.body.id_token_signing_alg_values_supported = [alg];
  });
  server.service.on(Events.BeforeUserinfo, (userinfo) => {
    Object.assign(userinfo.body, USERINFO);
  });

  await server.start(Number(process.env.PORT ?? '0'), '127.0.0.1');
  server.issuer.url = `http://127.0.0.1:${server.address().port}`;
  process.stdout.write(`listening ${server.issuer.url}\n`);
}

main().catch((err) => { console.error(err); process.exit(1); });
