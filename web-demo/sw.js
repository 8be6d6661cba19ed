// The demo's service worker. The build (vite.config.ts) prepends PRECACHE,
// every file of the built app (HTML, scripts, the engine's wasm, its glue and
// workers, icons), and VERSION, a hash of their contents. Models are not
// cached here: the model store keeps them in IndexedDB.
//
// It also adds the cross-origin isolation headers (COOP/COEP) to what it
// serves, so a host that cannot set headers still gets SharedArrayBuffer and
// the threaded engine after one reload.
/* global PRECACHE, VERSION */
const CACHE = `hob-chat-${VERSION}`;
const scope = new URL(self.registration.scope);
const precached = new Set(PRECACHE.map((p) => new URL(p, scope).href));

self.addEventListener('install', (event) => {
  event.waitUntil(
    caches.open(CACHE).then((cache) => cache.addAll([...precached].map((url) => new Request(url, { cache: 'reload' })))).then(() => self.skipWaiting()),
  );
});

self.addEventListener('activate', (event) => {
  event.waitUntil(
    caches.keys()
      .then((names) => Promise.all(names.filter((n) => n.startsWith('hob-chat-') && n !== CACHE).map((n) => caches.delete(n))))
      .then(() => self.clients.claim()),
  );
});

function isolated(response) {
  if (response.status === 0 || response.type === 'opaque') return response;
  const headers = new Headers(response.headers);
  headers.set('Cross-Origin-Opener-Policy', 'same-origin');
  headers.set('Cross-Origin-Embedder-Policy', 'require-corp');
  headers.set('Cross-Origin-Resource-Policy', 'same-origin');
  return new Response(response.body, { status: response.status, statusText: response.statusText, headers });
}

self.addEventListener('fetch', (event) => {
  const req = event.request;
  if (req.method !== 'GET') return;
  const url = new URL(req.url);
  if (url.origin !== scope.origin) return;
  url.search = '';
  url.hash = '';
  // Navigations inside the scope get the app shell.
  const key = req.mode === 'navigate' && url.href.startsWith(scope.href) ? new URL('index.html', scope).href : url.href;
  if (!precached.has(key)) return;
  event.respondWith(
    caches.open(CACHE).then(async (cache) => {
      const hit = await cache.match(key);
      if (hit) return isolated(hit);
      const response = await fetch(req);
      if (response.ok) await cache.put(key, response.clone());
      return isolated(response);
    }),
  );
});
