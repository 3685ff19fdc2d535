import { defineConfig } from "vite";

// The FastAPI back end serves the built bundle: index.html at "/" and the
// assets folder at "/assets". During `npm run dev` the API and the WebSocket
// are proxied to a locally running back end.
const backend = "http://127.0.0.1:8000";

export default defineConfig({
  base: "/",
  build: {
    outDir: "../src/btcpulse/web/static",
    emptyOutDir: true,
    assetsDir: "assets",
    sourcemap: false,
  },
  server: {
    proxy: {
      "/api": backend,
      "/ws": { target: backend.replace(/^http/, "ws"), ws: true },
    },
  },
});
