/**
 * The web origins a key may be used from (the key file's `origins`), written as browsers send
 * them in the Origin header: `scheme://host[:port]`, http or https, the host in lowercase and
 * punycode, no default port, no path, no trailing slash. So an Origin header is matched by plain
 * comparison, and a pattern that no browser could ever send is refused when the file is read,
 * instead of silently matching nothing.
 *
 * `https://*.shop.example` stands for every subdomain of shop.example, at any depth
 * (`https://a.shop.example`, `https://a.b.shop.example`), with that scheme and port, but not
 * `https://shop.example` itself: list both to allow both.
 */

/** `scheme://*.` at the start of a pattern: any case, so that `HTTPS://*.X` gets the "write it as browsers do" advice. */
const wildcardStart = /^([a-z][a-z0-9+.-]*):\/\/\*\./i;

/** The subdomain labels a wildcard stands for, as browsers send them: lowercase, punycode, dot-separated. */
const subdomainLabels = /^[a-z0-9_-]+(\.[a-z0-9_-]+)*$/;

const example = '"https://shop.example", "http://localhost:3000" or "https://*.shop.example"';

/**
 * What is wrong with an origin pattern, phrased to follow the quoted pattern in a message (as in
 * `keys[0].origins[1] "https://Shop.example" must be written ...`); undefined when it is valid.
 */
export function originPatternProblem(pattern: string): string | undefined {
  if (pattern === 'null') return 'cannot be allowed: browsers send "null" from sandboxed frames and file:// pages, which any site can make';
  if (pattern === '*') return `would allow every web page; list origins such as ${example}`;
  const wildcard = wildcardStart.exec(pattern);
  const concrete = wildcard === null ? pattern : `${wildcard[1]}://${pattern.slice(wildcard[0].length)}`;
  if (concrete.includes('*')) return `may hold "*" only as the whole first label of the host, as in "https://*.shop.example"`;
  let url: URL;
  try {
    url = new URL(concrete);
  } catch {
    return `is not an origin such as ${example}`;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return `must start with http:// or https:// (an origin such as ${example})`;
  if (url.username !== '' || url.password !== '') return 'must not hold a user name or password';
  if (url.pathname !== '/' || url.search !== '' || url.hash !== '' || concrete.endsWith('/')) {
    return `must be only scheme://host[:port], without a path or a trailing "/": ${JSON.stringify(withWildcard(url.origin, wildcard !== null))}`;
  }
  if (wildcard !== null) {
    const host = url.hostname;
    if (host.startsWith('[') || /^[0-9.]+$/.test(host)) return 'cannot put a wildcard before an IP address';
    if (!host.replace(/\.$/, '').includes('.')) {
      return `would allow every site under ".${host}"; a wildcard needs a domain of two labels or more, as in "https://*.shop.example"`;
    }
  }
  if (concrete !== url.origin) {
    return `must be written as browsers send it (lowercase host, punycode, no default port): ${JSON.stringify(withWildcard(url.origin, wildcard !== null))}`;
  }
  return undefined;
}

function withWildcard(origin: string, wildcard: boolean): string {
  return wildcard ? origin.replace('://', '://*.') : origin;
}

/** A wildcard pattern, split around its `*`: `https://*.shop.example:8443` is `https://` and `.shop.example:8443`. */
interface Wildcard {
  before: string;
  after: string;
}

/**
 * Whether an Origin header's value is one of `patterns` (each valid by originPatternProblem). An
 * origin not written as browsers write it (upper case, a default port, a trailing slash, "null")
 * matches nothing.
 */
export function originMatcher(patterns: readonly string[]): (origin: string) => boolean {
  const exact = new Set<string>();
  const wildcards: Wildcard[] = [];
  for (const pattern of patterns) {
    const star = pattern.indexOf('*');
    if (star === -1) exact.add(pattern);
    else wildcards.push({ before: pattern.slice(0, star), after: pattern.slice(star + 1) });
  }
  return (origin) =>
    exact.has(origin) ||
    wildcards.some(({ before, after }) => {
      if (!(origin.startsWith(before) && origin.endsWith(after)) || origin.length <= before.length + after.length) return false;
      return subdomainLabels.test(origin.slice(before.length, origin.length - after.length));
    });
}
