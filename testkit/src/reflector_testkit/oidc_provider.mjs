// A real OpenID Connect issuer for tests: the npm package `oidc-provider` (a certified
// implementation), on 127.0.0.1, with its development sign-in pages (any login name, any
// password) and one confidential client. Access tokens for the resource AUDIENCE are JWTs.
//
//   node oidc_provider.mjs PORT CLIENT_ID CLIENT_SECRET AUDIENCE REDIRECT_URI... 
//
// The signing keys (a JWKS with private keys) come in the OIDC_TEST_JWKS environment variable,
// so a test can restart the issuer with rotated keys. It prints "ready" once it listens.
import Provider from "oidc-provider";

const [port, clientId, clientSecret, audience, ...redirectUris] = process.argv.slice(2);
const issuer = `http://127.0.0.1:${port}`;
const jwks = JSON.parse(process.env.OIDC_TEST_JWKS);

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: clientId,
      client_secret: clientSecret,
      redirect_uris: redirectUris,
      grant_types: ["authorization_code"],
      response_types: ["code"],
      token_endpoint_auth_method: "client_secret_basic",
    },
  ],
  jwks,
  pkce: { required: () => true },
  claims: { openid: ["sub"], email: ["email", "email_verified"], profile: ["name"] },
  async findAccount(ctx, id) {
    // A login name ending in "-unverified" gets an email its issuer does not vouch for.
    const unverified = id.endsWith("-unverified");
    const name = unverified ? id.slice(0, -"-unverified".length) : id;
    return {
      accountId: id,
      async claims() {
        return { sub: id, email: `${name}@example.org`, email_verified: !unverified, name };
      },
    };
  },
  features: {
    devInteractions: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => audience,
      useGrantedResource: () => true,
      getResourceServerInfo: () => ({
        scope: "openid email profile",
        audience,
        accessTokenFormat: "jwt",
        jwt: { sign: { alg: "RS256" } },
      }),
    },
  },
  cookies: { keys: ["reflector-tests-only"] },
});
provider.proxy = false;
provider.on("server_error", (ctx, error) => console.error("server_error", error));
provider.listen(Number(port), "127.0.0.1", () => console.log("ready"));
