// A real OpenID Provider for the end-to-end tests, built on the certified `oidc-provider` package.
// It listens on 127.0.0.1 (port from PORT, default 0 = any free port) and prints
// "ISSUER <url>" on stdout once it accepts requests.
//
// Environment (all optional):
//   PORT                 port to listen on (0: a free one)
//   REDIRECT_URIS        comma-separated redirect URIs of client "gw"
//   POST_LOGOUT_URIS     comma-separated post-logout redirect URIs of client "gw"
//   BACKCHANNEL_URI      back-channel logout URI of client "gw"
//   AT_TTL, RT_TTL, ID_TTL, CC_TTL   lifetimes in seconds (access, refresh, ID, client-credentials token)
//   RESOURCE             audience of JWT access tokens (default urn:portcullis:api)
//
// Clients: "gw"/"gw-secret" (authorization code + PKCE, refresh, client credentials, RP-initiated and
// back-channel logout) and "svc"/"svc-secret" (client credentials). Any user name logs in with any
// password on the development login form; "bob" and names starting with "user" get grp=user, names
// starting with "big" carry a large claim (to exercise chunked session cookies), everyone else is
// grp=admin. Consent is granted automatically.
import http from 'node:http';
import crypto from 'node:crypto';
import Provider from 'oidc-provider';

const env = process.env;
const seconds = (name, fallback) => (env[name] ? Number.parseInt(env[name], 10) : fallback);
const list = (name) => (env[name] ? env[name].split(',').map((s) => s.trim()).filter(Boolean) : []);

const RESOURCE = env.RESOURCE || 'urn:portcullis:api';
const TTL = {
  access: seconds('AT_TTL', 300),
  refresh: seconds('RT_TTL', 3600),
  id: seconds('ID_TTL', 600),
  clientCredentials: seconds('CC_TTL', 300),
};

function claimsFor(sub) {
  const user = sub === 'bob' || sub.startsWith('user');
  const claims = {
    sub,
    name: `${sub} Example`,
    preferred_username: sub,
    email: `${sub}@example.test`,
    email_verified: true,
    grp: user ? 'user' : 'admin',
    areas: user ? ['home'] : ['office', 'home'],
    user: { name: sub, dept: user ? 'staff' : 'it' },
  };
  if (sub.startsWith('big')) {
    // Random text does not compress, so the sealed session really exceeds one cookie.
    claims.bio = crypto.randomBytes(4500).toString('base64');
  }
  return claims;
}

const serviceClaims = {
  svc: { grp: 'service', areas: ['backend'], user: { name: 'svc-robot' } },
  gw: { grp: 'gateway', areas: ['office'], user: { name: 'gw-robot' } },
};

const server = http.createServer();
server.listen(seconds('PORT', 0), '127.0.0.1', () => {
  const { port } = server.address();
  const issuer = `http://127.0.0.1:${port}`;
  const rsa = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: 'gw',
        client_secret: 'gw-secret',
        redirect_uris: list('REDIRECT_URIS'),
        post_logout_redirect_uris: list('POST_LOGOUT_URIS'),
        grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_basic',
        id_token_signed_response_alg: 'RS256',
        ...(env.BACKCHANNEL_URI
          ? { backchannel_logout_uri: env.BACKCHANNEL_URI, backchannel_logout_session_required: true }
          : {}),
      },
      {
        client_id: 'svc',
        client_secret: 'svc-secret',
        redirect_uris: [],
        response_types: [],
        grant_types: ['client_credentials'],
        token_endpoint_auth_method: 'client_secret_basic',
      },
    ],
    jwks: { keys: [{ ...rsa, kid: `rsa-${crypto.randomBytes(4).toString('hex')}`, use: 'sig', alg: 'RS256' }] },
    cookies: { keys: [crypto.randomBytes(16).toString('hex')] },
    claims: {
      openid: ['sub'],
      profile: ['name', 'preferred_username', 'grp', 'areas', 'user', 'bio'],
      email: ['email', 'email_verified'],
    },
    scopes: ['openid', 'offline_access', 'profile', 'email'],
    conformIdTokenClaims: false,
    async findAccount(ctx, sub) {
      return { accountId: sub, async claims() { return claimsFor(sub); } };
    },
    async loadExistingGrant(ctx) {
      const { client, session } = ctx.oidc;
      const id = ctx.oidc.result?.consent?.grantId || session.grantIdFor(client.clientId);
      if (id) return ctx.oidc.provider.Grant.find(id);
      const grant = new ctx.oidc.provider.Grant({ clientId: client.clientId, accountId: session.accountId });
      grant.addOIDCScope('openid offline_access profile email');
      grant.addOIDCClaims(['sub', 'name', 'preferred_username', 'email', 'email_verified', 'grp', 'areas', 'user', 'bio']);
      grant.addResourceScope(RESOURCE, 'api:read api:write');
      await grant.save();
      return grant;
    },
    async issueRefreshToken(ctx, client) {
      return client.grantTypeAllowed('refresh_token');
    },
    async extraTokenClaims(ctx, token) {
      if (token.kind === 'ClientCredentials') return serviceClaims[token.clientId];
      if (token.accountId) {
        const { grp, areas, user, email, preferred_username } = claimsFor(token.accountId);
        return { grp, areas, user, email, preferred_username };
      }
      return undefined;
    },
    features: {
      devInteractions: { enabled: true },
      rpInitiatedLogout: { enabled: true },
      backchannelLogout: { enabled: true },
      clientCredentials: { enabled: true },
      userinfo: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: async (ctx, client, oneOf) => oneOf || RESOURCE,
        useGrantedResource: async () => true,
        getResourceServerInfo: async (ctx, resource) => {
          if (resource !== RESOURCE) throw new Provider.errors.InvalidTarget(`unknown resource ${resource}`);
          return {
            scope: 'api:read api:write',
            audience: resource,
            accessTokenTTL: ctx.oidc.params?.grant_type === 'client_credentials' ? TTL.clientCredentials : TTL.access,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: 'RS256' } },
          };
        },
      },
    },
    pkce: { required: () => false },
    ttl: {
      AccessToken: (ctx, token) => token.resourceServer?.accessTokenTTL || TTL.access,
      ClientCredentials: (ctx, token) => token.resourceServer?.accessTokenTTL || TTL.clientCredentials,
      AuthorizationCode: 60,
      IdToken: TTL.id,
      RefreshToken: TTL.refresh,
      Session: 3600,
      Grant: 3600,
      Interaction: 600,
    },
    // The package refuses outgoing calls to loopback addresses (SSRF guard); these tests run
    // everything on loopback, so back-channel logout calls to 127.0.0.1 are allowed.
    fetch(url, options) {
      const host = new URL(url).hostname;
      if (host === '127.0.0.1' || host === 'localhost') delete options.dispatcher;
      return globalThis.fetch(url, options);
    },
  });
  provider.proxy = false;
  const log = (...args) => console.error(new Date().toISOString(), ...args);
  provider.on('grant.success', (ctx) => log('grant.success', ctx.oidc.params.grant_type, ctx.oidc.client?.clientId));
  provider.on('grant.error', (ctx, err) => log('grant.error', err.message, err.error_description || ''));
  provider.on('backchannel.success', (ctx, client, accountId, sid) => log('backchannel.success', client.clientId, accountId, sid));
  provider.on('backchannel.error', (ctx, err) => log('backchannel.error', err.message));
  provider.on('server_error', (ctx, err) => log('server_error', err));
  server.on('request', provider.callback());
  console.log(`ISSUER ${issuer}`);
});

const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
