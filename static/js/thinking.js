// Pull the model's "thinking" out of a JSON reply that is still arriving, e.g.
// '{"thinking": "The form has a \"Name\" fi' -> 'The form has a "Name" fi'.
// Returns null while the key has not appeared yet.

const ESCAPES = { '"': '"', "\\": "\\", "/": "/", b: "\b", f: "\f", n: "\n", r: "\r", t: "\t" };

export function extractThinking(partial) {
  const match = /"thinking"\s*:\s*"/.exec(partial);
  if (!match) return null;
  let out = "";
  for (let i = match.index + match[0].length; i < partial.length; i++) {
    const ch = partial[i];
    if (ch === '"') return out; // the string is complete
    if (ch !== "\\") {
      out += ch;
      continue;
    }
    const next = partial[i + 1];
    if (next === undefined) break; // an escape cut in half: wait for the rest
    if (next === "u") {
      const hex = partial.slice(i + 2, i + 6);
      if (hex.length < 4) break;
      out += String.fromCharCode(parseInt(hex, 16));
      i += 5;
    } else {
      out += ESCAPES[next] ?? next;
      i += 1;
    }
  }
  return out;
}
