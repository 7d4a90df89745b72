// node-oidc-provider configured for the flow that `mcp-auth` serves, for the authorization server
// part of `cargo xtask bench` (bench/src/authz/): PKCE S256 required, a resource indicator whose
// access tokens are ES256 JWTs, refresh tokens issued to the public client and rotated on every
// use, introspection (for a confidential client) and open dynamic registration, its default
// in-memory adapter. Signing keys are generated at start.
//
// Usage: node server.mjs <client-id> <redirect-uri> <resource> <opaque-resource> <introspector-id>
//        <introspector-secret>
// Listens on 127.0.0.1, a free port, and prints `listening <issuer>` once it accepts requests.
//
// The one thing it does not do as `mcp-auth` does is ask a person: `/interaction/<uid>` signs in
// the account `bench` and grants what the request asks at once (the bench automates login and
// consent once per virtual user, then measures authorizations of an already-authorized session).

import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';

import Provider from 'oidc-provider';

const [clientId, redirectUri, resource, opaqueResource, introspectorId, introspectorSecret] =
  process.argv.slice(2);
if (!introspectorSecret) {
  console.error('usage: node server.mjs <client-id> <redirect-uri> <resource> <opaque-resource> <introspector-id> <introspector-secret>');
  process.exit(2);
}
const ACCOUNT = 'bench';
const SCOPES = 'echo profile notes:read notes:write';

const signingKey = {
  ...generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' }),
  kid: randomBytes(8).toString('hex'),
  alg: 'ES256',
  use: 'sig',
};

// The issuer names the port, so the port is bound first.
const server = createServer();
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;

const provider = new Provider(issuer, {
  jwks: { keys: [signingKey] },
  cookies: { keys: [randomBytes(32).toString('base64url')] },
  clients: [
    {
      client_id: clientId,
      client_name: 'bench',
      token_endpoint_auth_method: 'none',
      redirect_uris: [redirectUri],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
    },
    {
      client_id: introspectorId,
      client_secret: introspectorSecret,
      token_endpoint_auth_method: 'client_secret_basic',
      grant_types: [],
      response_types: [],
      redirect_uris: [],
    },
  ],
  clientDefaults: { id_token_signed_response_alg: 'ES256' },
  enabledJWA: { idTokenSigningAlgValues: ['ES256'] },
  findAccount: (_ctx, accountId) => ({ accountId, claims: () => ({ sub: accountId }) }),
  pkce: { required: () => true },
  issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
  rotateRefreshToken: true,
  ttl: { AccessToken: 300 },
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  features: {
    devInteractions: { enabled: false },
    introspection: { enabled: true },
    registration: { enabled: true },
    resourceIndicators: {
      enabled: true,
      getResourceServerInfo: async (_ctx, indicator) => {
        if (indicator === resource) {
          return {
            scope: SCOPES,
            audience: resource,
            accessTokenTTL: 300,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: 'ES256' } },
          };
        }
        // Structured (JWT) access tokens cannot be introspected by node-oidc-provider (it answers
        // `unsupported_token_type`), so the introspection rows ask about tokens of this one.
        if (indicator === opaqueResource) {
          return { scope: SCOPES, audience: opaqueResource, accessTokenTTL: 300, accessTokenFormat: 'opaque' };
        }
        throw new Provider.errors.InvalidTarget();
      },
    },
  },
});

// The automated person: signs in `bench`, then grants every scope the request asks for.
provider.use(async (ctx, next) => {
  if (ctx.method !== 'GET' || !ctx.path.startsWith('/interaction/')) {
    return next();
  }
  const interaction = await provider.interactionDetails(ctx.req, ctx.res);
  const { prompt, params, session, grantId } = interaction;
  let result;
  if (prompt.name === 'login') {
    result = { login: { accountId: ACCOUNT } };
  } else {
    const grant = grantId
      ? await provider.Grant.find(grantId)
      : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
    const { missingOIDCScope, missingOIDCClaims, missingResourceScopes } = prompt.details;
    if (missingOIDCScope) grant.addOIDCScope(missingOIDCScope.join(' '));
    if (missingOIDCClaims) grant.addOIDCClaims(missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(missingResourceScopes ?? {})) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
    result = { consent: { grantId: await grant.save() } };
  }
  const returnTo = await provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: true });
  ctx.status = 303;
  ctx.redirect(returnTo);
});

server.on('request', provider.callback());
console.log(`listening ${issuer}`);
