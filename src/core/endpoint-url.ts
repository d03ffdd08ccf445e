/**
 * Which URLs a push endpoint may have (pure). Only http and https, no credentials, at most
 * MAX_ENDPOINT_URL_CHARS; an IP literal (or `localhost`) in a private, loopback, link-local or
 * reserved range is refused unless ENDPOINT_PRIVATE_ADDRESSES allows it. A Worker cannot resolve a
 * hostname, so a hostname is taken as it is: this check covers literals, not a name that resolves
 * to a private address (Cloudflare's network does not route to private addresses from a Worker).
 */

export const PRIVATE_ADDRESS_POLICIES = ["deny", "loopback", "allow"] as const;
/** deny: no private or loopback literal; loopback: 127.0.0.0/8, ::1 and localhost only (local runs); allow: any. */
export type PrivateAddressPolicy = (typeof PRIVATE_ADDRESS_POLICIES)[number];

export const MAX_ENDPOINT_URL_CHARS = 2048;

/** What kind of address a URL's hostname is. */
export type HostKind = "public" | "loopback" | "private";

/** Why `url` may not be an endpoint's, or null when it may. */
export function endpointUrlRefusal(url: string, policy: PrivateAddressPolicy): string | null {
  if (url.length > MAX_ENDPOINT_URL_CHARS) {
    return `url is longer than ${MAX_ENDPOINT_URL_CHARS} characters`;
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return "url is not an absolute URL";
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    return `url must be http or https, not ${parsed.protocol.replace(/:$/, "")}`;
  }
  if (parsed.username !== "" || parsed.password !== "") {
    return "url may not carry credentials (the deliveries are signed instead)";
  }
  const kind = hostKind(parsed.hostname);
  if (kind === "public" || policy === "allow" || (kind === "loopback" && policy === "loopback")) {
    return null;
  }
  return `url names a ${kind} address (${parsed.hostname}), refused by ENDPOINT_PRIVATE_ADDRESSES=${policy}`;
}

/** The kind of a URL hostname as the WHATWG parser gives it (IPv4 normalised, IPv6 in brackets). */
export function hostKind(hostname: string): HostKind {
  const host = hostname.toLowerCase().replace(/\.$/, "");
  if (host === "localhost" || host.endsWith(".localhost")) {
    return "loopback";
  }
  const v4 = ipv4(host);
  if (v4 !== null) {
    return ipv4Kind(v4);
  }
  if (host.startsWith("[") && host.endsWith("]")) {
    return ipv6Kind(host.slice(1, -1));
  }
  return "public";
}

function ipv4(host: string): number[] | null {
  const parts = host.split(".");
  if (parts.length !== 4 || !parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255)) {
    return null;
  }
  return parts.map(Number);
}

function ipv4Kind([a, b]: number[]): HostKind {
  const first = a ?? 0;
  const second = b ?? 0;
  if (first === 127) {
    return "loopback";
  }
  const isPrivate =
    first === 0 || // "this network"
    first === 10 ||
    (first === 100 && second >= 64 && second <= 127) || // carrier-grade NAT
    (first === 169 && second === 254) || // link-local, cloud metadata
    (first === 172 && second >= 16 && second <= 31) ||
    (first === 192 && second === 168) ||
    (first === 192 && second === 0) || // IETF protocol assignments
    (first === 198 && (second === 18 || second === 19)) || // benchmarking
    first >= 224; // multicast, reserved, broadcast
  return isPrivate ? "private" : "public";
}

function ipv6Kind(address: string): HostKind {
  if (address === "::1") {
    return "loopback";
  }
  if (address === "::") {
    return "private";
  }
  // IPv4-mapped (::ffff:7f00:1 as the parser writes ::ffff:127.0.0.1): the IPv4 address decides.
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(address);
  if (mapped) {
    const high = Number.parseInt(mapped[1]!, 16);
    const low = Number.parseInt(mapped[2]!, 16);
    return ipv4Kind([high >> 8, high & 255, low >> 8, low & 255]);
  }
  const first = Number.parseInt(address.split(":")[0] || "0", 16);
  const isPrivate =
    (first & 0xfe00) === 0xfc00 || // unique local fc00::/7
    (first & 0xffc0) === 0xfe80 || // link-local fe80::/10
    (first & 0xff00) === 0xff00; // multicast
  return isPrivate ? "private" : "public";
}
