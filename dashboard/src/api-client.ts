/**
 * Calls to Meridian's REST API from the page, on the same origin, with the reader token in the
 * Authorization header (never in a URL). A refusal becomes an `ApiCallError` carrying the
 * contract's error code, so the page can tell a bad token (401/403) from anything else.
 */

/** A refused or failed call: `status` 0 when the server could not be reached. */
export class ApiCallError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }

  /** The token is unknown/revoked (401) or may not read this (403): asking again is the only fix. */
  get isAuth(): boolean {
    return this.status === 401 || this.status === 403;
  }
}

/** What to tell the viewer about a refused token. */
export function authMessage(error: ApiCallError): string {
  if (error.status === 401) {
    return `Meridian does not know this token, or it was revoked (401 ${error.code}). Paste a reader token.`;
  }
  return `This token may not read the fleet (403 ${error.code}: ${error.message}). Use a reader (or admin) token.`;
}

export class ApiClient {
  constructor(private readonly token: string) {}

  /** The bearer header for this token (also used by the event stream). */
  get authorization(): string {
    return `Bearer ${this.token}`;
  }

  /** GET `path` as JSON; throws ApiCallError on a non-2xx answer or no answer. */
  async get<T>(path: string, signal?: AbortSignal): Promise<T> {
    let response: Response;
    try {
      response = await fetch(path, { headers: { authorization: this.authorization }, signal });
    } catch (error) {
      if (signal?.aborted) {
        throw error;
      }
      throw new ApiCallError(0, "unreachable", "Meridian did not answer (is it running?)");
    }
    const text = await response.text();
    if (!response.ok) {
      throw errorOf(response.status, text);
    }
    return JSON.parse(text) as T;
  }
}

/** The contract's error body (`{error: {code, message}}`) as an ApiCallError, whatever the body was. */
export function errorOf(status: number, text: string): ApiCallError {
  try {
    const body = JSON.parse(text) as { error?: { code?: unknown; message?: unknown } };
    const code = typeof body.error?.code === "string" ? body.error.code : `http_${status}`;
    const message = typeof body.error?.message === "string" ? body.error.message : `HTTP ${status}`;
    return new ApiCallError(status, code, message);
  } catch {
    return new ApiCallError(status, `http_${status}`, `HTTP ${status}`);
  }
}
