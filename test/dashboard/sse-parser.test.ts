import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type SseMessage, SseParser } from "../../dashboard/src/sse-parser";

/** Feeds `chunks` in order; answers every message and comment. */
function feed(chunks: string[]): { messages: SseMessage[]; comments: string[]; parser: SseParser } {
  const parser = new SseParser();
  const messages: SseMessage[] = [];
  const comments: string[] = [];
  for (const chunk of chunks) {
    const out = parser.push(chunk);
    messages.push(...out.messages);
    comments.push(...out.comments);
  }
  return { messages, comments, parser };
}

const STREAM =
  ": keep-alive\n" +
  'id: 7\nevent: task.routed\ndata: {"id":"7","type":"task.routed"}\n\n' +
  'event: dropped\r\ndata: {"missed": 3}\r\n\r\n' +
  "data: line one\rdata: line two\r\r" +
  'id: 9\nevent: reset\ndata:{"reason":"too_old"}\n\n' +
  "event: ignored-no-data\n\n";

const EXPECTED: SseMessage[] = [
  { event: "task.routed", data: '{"id":"7","type":"task.routed"}', id: "7" },
  { event: "dropped", data: '{"missed": 3}', id: "7" },
  { event: "message", data: "line one\nline two", id: "7" },
  { event: "reset", data: '{"reason":"too_old"}', id: "9" },
];

describe("the SSE parser", () => {
  it("reads events, ids, comments, multi-line data and all three line endings", () => {
    const { messages, comments, parser } = feed([STREAM]);
    expect(messages).toEqual(EXPECTED);
    expect(comments).toEqual(["keep-alive"]);
    expect(parser.lastId).toBe("9");
  });

  it("gives the same messages however the text is cut into chunks (CRLF split across chunks included)", () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.integer({ min: 1, max: STREAM.length - 1 }), { maxLength: 20 }),
        (cuts) => {
          const sorted = [...cuts].sort((a, b) => a - b);
          const chunks: string[] = [];
          let from = 0;
          for (const cut of sorted) {
            chunks.push(STREAM.slice(from, cut));
            from = cut;
          }
          chunks.push(STREAM.slice(from));
          expect(feed(chunks).messages).toEqual(EXPECTED);
        },
      ),
    );
  });

  it("holds a message until its blank line, and reset() drops a half-received one but keeps the last id", () => {
    const parser = new SseParser();
    expect(parser.push("id: 4\nevent: node.up\ndata: {}\n").messages).toEqual([]);
    parser.reset();
    expect(parser.lastId).toBe("4");
    expect(parser.push("\n").messages).toEqual([]);
    expect(parser.push("data: x\n\n").messages).toEqual([{ event: "message", data: "x", id: "4" }]);
  });

  it("takes a numeric retry hint and ignores a bad one", () => {
    const parser = new SseParser();
    expect(parser.push("retry: 2500\n").retryMs).toBe(2500);
    expect(parser.push("retry: soon\n").retryMs).toBeNull();
  });
});
