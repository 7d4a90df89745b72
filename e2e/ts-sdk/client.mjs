// The official MCP TypeScript SDK (@modelcontextprotocol/sdk, pinned in package.json) as a client
// of our MCP server and authorization server. Run by e2e/tests/ts_sdk.rs, which plays the user:
//
//   node client.mjs <MCP endpoint URL> <text to echo> [<tool prefix>]
//
// With a tool prefix (`demo__`, for the gateway), the tools are called by their prefixed names and
// the step-up is for writing a note (`notes:write`) rather than for `whoami`.
//
// Line protocol with the harness (nothing secret crosses it except the one-time code):
//   stdout  AUTHORIZE <authorization URL>   the SDK wants the user at the AS
//   stdin   CALLBACK <redirect URL>         where the AS sent the user back (code, state, iss)
//   stdout  RESULT <json>                   what the session did, once at the end
// Progress goes to stderr. Any failure exits non-zero with the reason on stderr.
//
// What the SDK does alone: the 401 challenge, RFC 9728 and RFC 8414 discovery, RFC 7591
// registration, PKCE, the code exchange, refresh, the MCP session, and step-up on
// 403 insufficient_scope. What this script adds, because the SDK leaves it to the application: it
// checks `state` and the RFC 9207 `iss` of each callback, and that the issuer is the one the
// resource named.
//
// Two clients, because SDK 1.32.2 cannot step up while it holds a refresh token: on a 403
// insufficient_scope it refreshes first, a refresh cannot widen the scope (RFC 6749 §6), and it
// gives up with "Server returned 403 after trying upscoping" (modelcontextprotocol/typescript-sdk
// issue 2255). So the first client registers for refresh tokens and shows refresh working; the
// second registers without them and shows step-up working.

import { createInterface } from 'node:readline';
import { randomBytes, randomInt } from 'node:crypto';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { auth, UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';

const [serverUrl, echoText, toolPrefix = ''] = process.argv.slice(2);
if (!serverUrl || echoText === undefined) fail('usage: node client.mjs <MCP endpoint URL> <text to echo> [<tool prefix>]');

function fail(message) {
  console.error(`client.mjs: FAILED: ${message}`);
  process.exit(1);
}

function check(condition, message) {
  if (!condition) fail(message);
}

function log(message) {
  console.error(`client.mjs: ${message}`);
}

const stdinLines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();

/** The next line from the harness that starts with `prefix`. */
async function readFromHarness(prefix) {
  const { value, done } = await stdinLines.next();
  check(!done, `the harness closed stdin while ${prefix} was expected`);
  check(value.startsWith(`${prefix} `), `expected "${prefix} …" from the harness`);
  return value.slice(prefix.length + 1);
}

/** An `OAuthClientProvider` that keeps everything in memory and hands the user to the harness. */
class HarnessProvider {
  // Loopback redirect URI of a native app (RFC 8252 §7.3); nothing listens: the harness reads
  // the redirect and passes it on.
  redirectUrl = `http://127.0.0.1:${randomInt(49152, 65536)}/callback`;
  authorizations = 0;
  #clientInformation;
  #tokens;
  #codeVerifier;
  #discovery;
  #expectedState;
  #code;

  constructor(grantTypes) {
    this.clientMetadata = {
      client_name: 'MCP TypeScript SDK (e2e)',
      redirect_uris: [this.redirectUrl],
      token_endpoint_auth_method: 'none',
      grant_types: grantTypes,
      response_types: ['code'],
      application_type: 'native',
    };
  }

  clientInformation() {
    return this.#clientInformation;
  }
  saveClientInformation(information) {
    this.#clientInformation = information;
  }
  tokens() {
    return this.#tokens;
  }
  saveTokens(tokens) {
    this.#tokens = tokens;
  }
  saveCodeVerifier(verifier) {
    this.#codeVerifier = verifier;
  }
  codeVerifier() {
    check(this.#codeVerifier, 'the SDK asked for a code verifier it never saved');
    return this.#codeVerifier;
  }
  saveDiscoveryState(state) {
    this.#discovery = state;
  }
  discoveryState() {
    return this.#discovery;
  }
  invalidateCredentials(scope) {
    log(`the SDK invalidated credentials (${scope})`);
    if (scope === 'all' || scope === 'client') this.#clientInformation = undefined;
    if (scope === 'all' || scope === 'tokens') this.#tokens = undefined;
    if (scope === 'all' || scope === 'verifier') this.#codeVerifier = undefined;
    if (scope === 'all' || scope === 'discovery') this.#discovery = undefined;
  }
  state() {
    this.#expectedState = randomBytes(32).toString('base64url');
    return this.#expectedState;
  }

  /** The issuer discovery found, after checking it is the one the resource named (RFC 8414 §3.3). */
  issuer() {
    const metadata = this.#discovery?.authorizationServerMetadata;
    const named = this.#discovery?.resourceMetadata?.authorization_servers ?? [];
    check(metadata?.issuer, 'no authorization server metadata after discovery');
    check(named.includes(metadata.issuer), `the resource does not name the issuer ${metadata.issuer}`);
    return metadata.issuer;
  }

  /** The resource the tokens are for, from the protected resource metadata. */
  resource() {
    return this.#discovery?.resourceMetadata?.resource;
  }

  async redirectToAuthorization(authorizationUrl) {
    this.authorizations += 1;
    const sent = authorizationUrl.searchParams;
    check(sent.get('state') === this.#expectedState, 'the authorization request lost our state');
    log(`authorizing (scope "${sent.get('scope')}", resource ${sent.get('resource')})`);
    console.log(`AUTHORIZE ${authorizationUrl.href}`);

    const callback = new URL(await readFromHarness('CALLBACK'));
    const params = callback.searchParams;
    check(callback.href.startsWith(`${this.redirectUrl}?`), 'the callback is not our redirect URI');
    check(!params.has('error'), `the authorization server answered error=${params.get('error')}`);
    check(params.getAll('state').length === 1 && params.get('state') === this.#expectedState,
      'the callback state is not the one we sent');
    this.#expectedState = undefined;
    check(params.getAll('iss').length === 1 && params.get('iss') === this.issuer(),
      `the callback iss is not the issuer ${this.issuer()} (RFC 9207)`);
    check(params.getAll('code').length === 1 && params.get('code'), 'the callback has no code');
    this.#code = params.get('code');
    log('callback checked: state and iss match');
  }

  /** The code of the last callback, once. */
  takeCode() {
    const code = this.#code;
    this.#code = undefined;
    check(code, 'the SDK reported UnauthorizedError without sending us to the authorization server');
    return code;
  }
}

function newSession(provider) {
  const client = new Client({ name: 'mcp-oauth-e2e-ts-sdk', version: '0.0.0' }, { capabilities: {} });
  const transport = new StreamableHTTPClientTransport(new URL(serverUrl), { authProvider: provider });
  return { client, transport };
}

/** Connects, authorizing first if the server asks: the SDK's documented connect, finishAuth, reconnect. */
async function connect(provider) {
  let session = newSession(provider);
  try {
    await session.client.connect(session.transport);
    return session;
  } catch (error) {
    if (!(error instanceof UnauthorizedError)) throw error;
  }
  log('connect: 401, authorization done; exchanging the code');
  await session.transport.finishAuth(provider.takeCode());
  session = newSession(provider);
  await session.client.connect(session.transport);
  log(`connected: protocol ${session.transport.protocolVersion}, session ${session.transport.sessionId ? 'yes' : 'no'}`);
  return session;
}

/** Runs `call`; on UnauthorizedError (step-up) finishes the authorization and retries once. */
async function withStepUp(provider, transport, call) {
  try {
    return await call();
  } catch (error) {
    if (!(error instanceof UnauthorizedError)) throw error;
  }
  log('step-up: authorization done; exchanging the code and retrying');
  await transport.finishAuth(provider.takeCode());
  return await call();
}

/** The claims of a JWT access token, without verifying it (the server does that). */
function claimsOf(tokens) {
  const parts = tokens.access_token.split('.');
  check(parts.length === 3, 'the access token is not a JWT');
  return JSON.parse(Buffer.from(parts[1], 'base64url').toString());
}

/** What the test checks about a token; never the token. */
function describe(tokens) {
  const claims = claimsOf(tokens);
  return { aud: claims.aud, iss: claims.iss, scope: claims.scope, refresh_token: Boolean(tokens.refresh_token) };
}

async function echo(client, text) {
  const result = await client.callTool({ name: `${toolPrefix}echo`, arguments: { text } });
  check(!result.isError, `echo failed: ${JSON.stringify(result.content)}`);
  return result.structuredContent?.text;
}

/** A client with refresh tokens: authorize, tools/list, echo, refresh, echo again. */
async function refreshingClient() {
  const provider = new HarnessProvider(['authorization_code', 'refresh_token']);
  const { client, transport } = await connect(provider);
  const first = provider.tokens();
  const tools = (await client.listTools()).tools.map((tool) => tool.name);
  log(`tools/list: ${tools.join(', ')}`);
  const echoed = await echo(client, echoText);
  log('echo answered');

  // What the SDK does when the server refuses an expired token, without waiting for expiry.
  const refreshed = await auth(provider, { serverUrl: new URL(serverUrl), fetchFn: fetch });
  check(refreshed === 'AUTHORIZED' && provider.authorizations === 1, 'the refresh did not work without the user');
  check(claimsOf(provider.tokens()).jti !== claimsOf(first).jti, 'the refresh returned the same access token');
  check(provider.tokens().refresh_token !== first.refresh_token, 'the refresh token was not rotated');
  const echoedAfterRefresh = await echo(client, echoText);
  log('refreshed; echo answered with the new token');
  await transport.close();
  return {
    issuer: provider.issuer(),
    resource: provider.resource(),
    tools,
    echo: echoed,
    echo_after_refresh: echoedAfterRefresh,
    first_token: describe(first),
    refreshed_token: describe(provider.tokens()),
  };
}

/** A client without refresh tokens: authorize for echo, then step up for whoami (or, through a
 * gateway, for writing a note). */
async function steppingUpClient() {
  const provider = new HarnessProvider(['authorization_code']);
  const { client, transport } = await connect(provider);
  const first = provider.tokens();
  if (toolPrefix) {
    // add_note needs `notes:write`, which a first token never has: 403 insufficient_scope, step-up.
    const call = () => client.callTool({ name: `${toolPrefix}add_note`, arguments: { title: echoText, body: '' } });
    const added = await withStepUp(provider, transport, call);
    check(!added.isError, `add_note failed: ${JSON.stringify(added.content)}`);
    log('add_note answered');
    await transport.close();
    return {
      authorizations: provider.authorizations,
      first_token: describe(first),
      stepped_up_token: describe(provider.tokens()),
      added_title: added.structuredContent?.title,
    };
  }
  // whoami needs `profile`, which the first token lacks: 403 insufficient_scope, step-up.
  const whoami = await withStepUp(provider, transport, () => client.callTool({ name: 'whoami', arguments: {} }));
  check(!whoami.isError, `whoami failed: ${JSON.stringify(whoami.content)}`);
  log('whoami answered');
  await transport.close();
  return {
    authorizations: provider.authorizations,
    first_token: describe(first),
    stepped_up_token: describe(provider.tokens()),
    whoami_scopes: whoami.structuredContent?.scopes,
  };
}

async function main() {
  const refreshing = await refreshingClient();
  const steppingUp = await steppingUpClient();
  console.log(`RESULT ${JSON.stringify({ refreshing, stepping_up: steppingUp })}`);
}

const deadline = setTimeout(() => fail('no result within 60 seconds'), 60_000);
deadline.unref();
try {
  await main();
} catch (error) {
  fail(error instanceof Error ? `${error.name}: ${error.message}` : String(error));
}
process.exit(0);
