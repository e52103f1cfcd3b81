/** Hash routes: "#/endpoints/cloud?x=1" → { page: "endpoints", rest: ["cloud"], query }. */

export interface Route {
  page: string;
  rest: string[];
  query: URLSearchParams;
}

export function currentRoute(): Route {
  const hash = location.hash.replace(/^#\/?/, '');
  const q = hash.indexOf('?');
  const path = q >= 0 ? hash.slice(0, q) : hash;
  const parts = path
    .split('/')
    .filter(Boolean)
    .map((p) => decodeURIComponent(p));
  return {
    page: parts[0] ?? 'dashboard',
    rest: parts.slice(1),
    query: new URLSearchParams(q >= 0 ? hash.slice(q + 1) : ''),
  };
}

export function href(
  page: string,
  rest: (string | number)[] = [],
  query?: Record<string, string | number | undefined>,
): string {
  const path = [page, ...rest.map((r) => encodeURIComponent(String(r)))].join('/');
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined && v !== '') params.set(k, String(v));
  const qs = params.toString();
  return `#/${path}${qs ? `?${qs}` : ''}`;
}

export function navigate(to: string): void {
  if (location.hash === to) window.dispatchEvent(new HashChangeEvent('hashchange'));
  else location.hash = to;
}

/** Changes the hash without a re-render (filters kept in the URL so a reload keeps them). */
export function replaceQuiet(to: string): void {
  history.replaceState(null, '', to);
}
