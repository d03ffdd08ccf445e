import { describe, expect, it } from "vitest";
import { endpointUrlRefusal, hostKind, MAX_ENDPOINT_URL_CHARS } from "../../src/core/endpoint-url";

describe("push endpoint URLs (src/core/endpoint-url.ts)", () => {
  it("takes http and https URLs of public hosts under every policy", () => {
    for (const policy of ["deny", "loopback", "allow"] as const) {
      expect(endpointUrlRefusal("https://executor.example.com/run?x=1", policy)).toBe(null);
      expect(endpointUrlRefusal("http://93.184.216.34:8080/", policy)).toBe(null);
      expect(endpointUrlRefusal("https://[2606:4700::1111]/", policy)).toBe(null);
    }
  });

  it.each([
    ["ftp://example.com/x", /http or https/],
    ["file:///etc/passwd", /http or https/],
    ["javascript:alert(1)", /http or https/],
    ["not a url", /absolute URL/],
    ["/relative", /absolute URL/],
    ["https://user:pw@example.com/", /credentials/],
    ["https://user@example.com/", /credentials/],
    [`https://example.com/${"a".repeat(MAX_ENDPOINT_URL_CHARS)}`, /longer/],
  ])("refuses %s", (url, reason) => {
    expect(endpointUrlRefusal(url, "allow")).toMatch(reason);
  });

  it.each([
    ["127.0.0.1", "loopback"],
    ["127.1", "loopback"], // the URL parser normalises short and hex IPv4 forms
    ["0x7f.0.0.1", "loopback"],
    ["2130706433", "loopback"],
    ["[::1]", "loopback"],
    ["localhost", "loopback"],
    ["api.localhost", "loopback"],
    ["[::ffff:127.0.0.1]", "loopback"],
    ["10.1.2.3", "private"],
    ["172.16.0.1", "private"],
    ["172.31.255.255", "private"],
    ["192.168.1.1", "private"],
    ["169.254.169.254", "private"],
    ["100.64.0.1", "private"],
    ["0.0.0.0", "private"],
    ["224.0.0.1", "private"],
    ["[fd00::1]", "private"],
    ["[fe80::1]", "private"],
    ["[::]", "private"],
    ["[::ffff:10.0.0.1]", "private"],
    ["172.32.0.1", "public"],
    ["8.8.8.8", "public"],
    ["example.com", "public"],
  ])("%s is %s", (host, kind) => {
    expect(hostKind(new URL(`http://${host}/`).hostname)).toBe(kind);
  });

  it("deny refuses loopback and private literals; loopback admits only loopback; allow admits both", () => {
    expect(endpointUrlRefusal("http://127.0.0.1:9000/", "deny")).toMatch(/loopback address/);
    expect(endpointUrlRefusal("http://10.0.0.5/", "deny")).toMatch(/private address/);
    expect(endpointUrlRefusal("http://127.0.0.1:9000/", "loopback")).toBe(null);
    expect(endpointUrlRefusal("http://localhost:9000/", "loopback")).toBe(null);
    expect(endpointUrlRefusal("http://10.0.0.5/", "loopback")).toMatch(/private address/);
    expect(endpointUrlRefusal("http://10.0.0.5/", "allow")).toBe(null);
  });
});
