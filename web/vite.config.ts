import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

// `npm run dev` proxies the API to a running `reflector serve` (REFLECTOR_URL, default
// http://127.0.0.1:1250); `npm run build` writes the app into the Python package, which serves it.
const api = process.env.REFLECTOR_URL ?? "http://127.0.0.1:1250";
const proxied = ["/v1", "/api", "/docs", "/openapi.json", "/healthz", "/readyz", "/stats"];

export default defineConfig({
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
  build: {
    outDir: fileURLToPath(new URL("../src/reflector/web_dist", import.meta.url)),
    emptyOutDir: true,
    // The server's Content-Security-Policy allows no inline script: keep everything in files.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
  },
  server: {
    proxy: Object.fromEntries(
      proxied.map((path) => [
        path,
        {
          target: api,
          changeOrigin: true,
          ws: path === "/v1",
          // The server accepts WebSockets only from its own origin; in development the page
          // comes from Vite, so the proxy presents the server's origin instead.
          configure: (proxy) => {
            proxy.on("proxyReqWs", (request) => request.setHeader("origin", api));
          },
        },
      ]),
    ),
  },
});
