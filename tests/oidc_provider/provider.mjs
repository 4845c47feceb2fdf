// The OpenID provider the oidc tests sign in against: oidc-provider (a
// certified OpenID provider library) on loopback with one static client and
// scripted users, and a minimal login page of our own.
//
// Environment:
//   CLIENT_ID, CLIENT_SECRET (empty: a public client), REDIRECT_URIS and
//   POST_LOGOUT_REDIRECT_URIS (comma-separated), PORT (0 or unset: a free one),
//   ID_TOKEN_ALG (the client's ID token signing algorithm; RS256 when unset),
//   BACKCHANNEL_LOGOUT_URI (the client's back-channel logout URI, with
//   backchannel_logout_session_required; none when unset).
// Prints `listening <issuer>` on stdout once it accepts connections. Every
// start generates fresh signing keys, RS256 and ES512 (P-521), so a restart is
// a key rotation.
import http from 'node:http';
import { randomUUID } from 'node:crypto';
import { generateKeyPair, exportJWK } from 'jose';
import Provider from 'oidc-provider';

const env = (name, fallback) => process.env[name] ?? fallback;
const list = (value) => value.split(',').map((s) => s.trim()).filter(Boolean);

// The scripted users, by login name.
const ACCOUNTS = {
  alice: {
    name: 'Alice Liddell', preferred_username: 'alice', email: 'alice@example.com',
    email_verified: true, picture: 'https://example.com/alice.png', groups: ['staff'],
  },
  bob: {
    preferred_username: 'bob', email: 'bob@example.org', email_verified: false, groups: [],
  },
};

const escape = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function loginPage(uid, message) {
  return `<!doctype html><html><head><title>Test provider: sign in</title></head><body>
<h1>Test provider</h1>${message ? `<p id="message">${escape(message)}</p>` : ''}
<form method="post" action="/interaction/${escape(uid)}">
<label>Login <input id="login" name="login" autofocus></label>
<button id="submit" type="submit" name="action" value="login">Sign in</button>
<button id="cancel" type="submit" name="action" value="cancel">Cancel</button>
</form></body></html>`;
}

async function main() {
  const server = http.createServer();
  await new Promise((resolve) => server.listen(Number(env('PORT', '0')), '127.0.0.1', resolve));
  const { port } = server.address();
  const issuer = `http://127.0.0.1:${port}`;

  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const jwk = { ...(await exportJWK(privateKey)), kid: randomUUID(), alg: 'RS256', use: 'sig' };
  const p521 = (await generateKeyPair('ES512', { extractable: true })).privateKey;
  const es512 = { ...(await exportJWK(p521)), kid: randomUUID(), alg: 'ES512', use: 'sig' };

  const secret = env('CLIENT_SECRET', '');
  const client = {
    client_id: env('CLIENT_ID', 'rstream-test'),
    redirect_uris: list(env('REDIRECT_URIS', '')),
    post_logout_redirect_uris: list(env('POST_LOGOUT_REDIRECT_URIS', '')),
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: secret ? 'client_secret_basic' : 'none',
  };
  if (secret) client.client_secret = secret;
  const backchannel = env('BACKCHANNEL_LOGOUT_URI', '');
  if (backchannel) {
    client.backchannel_logout_uri = backchannel;
    client.backchannel_logout_session_required = true;
  }
  const idTokenAlg = env('ID_TOKEN_ALG', '');
  if (idTokenAlg) client.id_token_signed_response_alg = idTokenAlg;

  const provider = new Provider(issuer, {
    clients: [client],
    jwks: { keys: [jwk, es512] },
    cookies: { keys: ['rstream-test-provider-cookie-key'] },
    claims: {
      openid: ['sub'],
      profile: ['name', 'preferred_username', 'picture', 'groups'],
      email: ['email', 'email_verified'],
    },
    enabledJWA: { idTokenSigningAlgValues: ['RS256', 'ES512', 'HS256'] },
    // oidc-provider refuses outgoing requests to loopback addresses (SSRF
    // protection), and the app under test listens on loopback: the
    // back-channel logout calls go out without that check.
    fetch: (url, options) => {
      delete options.dispatcher;
      return globalThis.fetch(url, options);
    },
    features: {
      devInteractions: { enabled: false },
      backchannelLogout: { enabled: true },
      rpInitiatedLogout: {
        enabled: true,
        // No external resources (the default page loads a web font).
        async logoutSource(ctx, form) {
          ctx.body = `<!doctype html><html><head><title>Test provider: sign out</title></head><body>
<h1>Sign out of the test provider?</h1>${form}
<button id="confirm-logout" type="submit" form="op.logoutForm" value="yes" name="logout">Yes, sign me out</button>
</body></html>`;
        },
      },
    },
    pkce: { required: () => true },
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    async findAccount(ctx, id) {
      const account = ACCOUNTS[id];
      if (!account) return undefined;
      return { accountId: id, claims: async () => ({ sub: id, ...account }) };
    },
  });

  const callback = provider.callback();
  server.on('request', async (req, res) => {
    const match = /^\/interaction\/([^/?]+)/.exec(req.url);
    if (!match) return callback(req, res);
    try {
      const details = await provider.interactionDetails(req, res);
      if (req.method === 'GET') {
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
        return res.end(loginPage(details.uid));
      }
      let body = '';
      for await (const chunk of req) body += chunk;
      const form = new URLSearchParams(body);
      if (form.get('action') === 'cancel') {
        return await provider.interactionFinished(req, res, {
          error: 'access_denied', error_description: 'the user cancelled',
        }, { mergeWithLastSubmission: false });
      }
      const login = form.get('login') ?? '';
      if (!ACCOUNTS[login]) {
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
        return res.end(loginPage(details.uid, 'unknown user'));
      }
      const grant = new provider.Grant({ accountId: login, clientId: details.params.client_id });
      grant.addOIDCScope(details.params.scope);
      const grantId = await grant.save();
      return await provider.interactionFinished(req, res, {
        login: { accountId: login }, consent: { grantId },
      }, { mergeWithLastSubmission: false });
    } catch (err) {
      res.writeHead(400, { 'content-type': 'text/plain' });
      return res.end(`interaction failed: ${err.message}`);
    }
  });
  process.stdout.write(`listening ${issuer}\n`);
}

main().catch((err) => { console.error(err); process.exit(1); });
