import { originMatcher, originPatternProblem } from './origins';

describe('originPatternProblem', () => {
  test.each([
    'https://shop.example',
    'http://localhost:3000',
    'http://127.0.0.1:8080',
    'http://[::1]:3000',
    'https://shop.example:8443',
    'https://xn--bcher-kva.example',
    'https://*.shop.example',
    'https://*.shop.example:8443',
    'https://*.co.uk',
  ])('%s is valid', (pattern) => {
    expect(originPatternProblem(pattern)).toBeUndefined();
  });

  test.each([
    ['https://Shop.Example', 'must be written as browsers send it (lowercase host, punycode, no default port): "https://shop.example"'],
    ['HTTPS://shop.example', 'must be written as browsers send it (lowercase host, punycode, no default port): "https://shop.example"'],
    ['https://shop.example:443', 'must be written as browsers send it (lowercase host, punycode, no default port): "https://shop.example"'],
    ['http://localhost:80', 'must be written as browsers send it (lowercase host, punycode, no default port): "http://localhost"'],
    ['https://bücher.example', 'must be written as browsers send it (lowercase host, punycode, no default port): "https://xn--bcher-kva.example"'],
    ['https://*.Shop.example', 'must be written as browsers send it (lowercase host, punycode, no default port): "https://*.shop.example"'],
    [' https://shop.example', 'must be written as browsers send it (lowercase host, punycode, no default port): "https://shop.example"'],
    ['https://shop.example/', 'must be only scheme://host[:port], without a path or a trailing "/": "https://shop.example"'],
    ['https://shop.example/checkout', 'must be only scheme://host[:port], without a path or a trailing "/": "https://shop.example"'],
    ['https://shop.example?x=1', 'must be only scheme://host[:port], without a path or a trailing "/": "https://shop.example"'],
    ['https://*.shop.example/', 'must be only scheme://host[:port], without a path or a trailing "/": "https://*.shop.example"'],
    ['ftp://shop.example', 'must start with http:// or https:// (an origin such as "https://shop.example", "http://localhost:3000" or "https://*.shop.example")'],
    ['localhost:3000', 'must start with http:// or https:// (an origin such as "https://shop.example", "http://localhost:3000" or "https://*.shop.example")'],
    ['shop.example', 'is not an origin such as "https://shop.example", "http://localhost:3000" or "https://*.shop.example"'],
    ['', 'is not an origin such as "https://shop.example", "http://localhost:3000" or "https://*.shop.example"'],
    ['https://user:pw@shop.example', 'must not hold a user name or password'],
    ['null', 'cannot be allowed: browsers send "null" from sandboxed frames and file:// pages, which any site can make'],
    ['*', 'would allow every web page; list origins such as "https://shop.example", "http://localhost:3000" or "https://*.shop.example"'],
    ['https://*', 'may hold "*" only as the whole first label of the host, as in "https://*.shop.example"'],
    ['https://a*.shop.example', 'may hold "*" only as the whole first label of the host, as in "https://*.shop.example"'],
    ['https://*.*.shop.example', 'may hold "*" only as the whole first label of the host, as in "https://*.shop.example"'],
    ['https://shop.*.example', 'may hold "*" only as the whole first label of the host, as in "https://*.shop.example"'],
    ['https://*.example', 'would allow every site under ".example"; a wildcard needs a domain of two labels or more, as in "https://*.shop.example"'],
    ['http://*.localhost:3000', 'would allow every site under ".localhost"; a wildcard needs a domain of two labels or more, as in "https://*.shop.example"'],
    ['https://*.0.0.1', 'cannot put a wildcard before an IP address'],
    ['http://*.[::1]', 'cannot put a wildcard before an IP address'],
  ])('%j: %s', (pattern, problem) => {
    expect(originPatternProblem(pattern)).toBe(problem);
  });
});

describe('originMatcher', () => {
  const allows = originMatcher(['https://shop.example', 'http://localhost:3000', 'https://*.shop.example', 'https://*.stage.example:8443', 'https://xn--bcher-kva.example']);

  test.each([
    'https://shop.example',
    'http://localhost:3000',
    'https://www.shop.example',
    'https://a.b.shop.example',
    'https://xn--80ak6aa92e.shop.example',
    'https://eu.stage.example:8443',
    'https://xn--bcher-kva.example',
  ])('allows %s', (origin) => {
    expect(allows(origin)).toBe(true);
  });

  test.each([
    ['another site ending in the same letters', 'https://evil-shop.example'],
    ['a site under another domain holding the name', 'https://shop.example.evil.example'],
    ['the apex of a wildcard (not listed on its own)', 'https://stage.example:8443'],
    ['an empty subdomain', 'https://.shop.example'],
    ['the other scheme', 'http://shop.example'],
    ['the other scheme under a wildcard', 'http://www.shop.example'],
    ['another port', 'http://localhost:3001'],
    ['no port where one is listed', 'http://localhost'],
    ['a port where none is listed', 'https://www.shop.example:8443'],
    ['another port under a wildcard', 'https://eu.stage.example'],
    ['upper case (browsers never send it)', 'https://Shop.example'],
    ['upper case under a wildcard', 'https://WWW.shop.example'],
    ['a default port (browsers never send it)', 'https://shop.example:443'],
    ['a trailing slash', 'https://shop.example/'],
    ['a path smuggled before the suffix', 'https://evil.example/x.shop.example'],
    ['a user smuggled before the suffix', 'https://evil.example@x.shop.example'],
    ['the unicode form of a punycode host', 'https://bücher.example'],
    ['the null origin', 'null'],
    ['an empty Origin', ''],
    ['two origins in one header', 'https://shop.example, https://evil.example'],
  ])('refuses %s: %s', (_why, origin) => {
    expect(allows(origin)).toBe(false);
  });

  test('no patterns allow nothing', () => {
    expect(originMatcher([])('https://shop.example')).toBe(false);
  });
});
