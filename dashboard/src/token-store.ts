/**
 * The reader token, kept in `sessionStorage`: it survives a reload of this tab and goes when the tab
 * closes. Never in a URL (URLs end up in logs, history and Referer headers), never in localStorage.
 */
const KEY = "meridian.readerToken";

export function loadToken(): string | null {
  try {
    return sessionStorage.getItem(KEY);
  } catch {
    return null; // storage disabled: the viewer pastes the token again after a reload
  }
}

export function saveToken(token: string): void {
  try {
    sessionStorage.setItem(KEY, token);
  } catch {
    // storage disabled: the token lives in memory for this page only
  }
}

export function forgetToken(): void {
  try {
    sessionStorage.removeItem(KEY);
  } catch {
    // nothing stored
  }
}
