// Locators for replay (agent_core/replay/locators.py): what the scrape does not already say about an element.
// Evaluated as `([op, arg], el) => ...` in a page or frame (`el` null), or on an element handle:
//   capture  -> {css, testid: [attr, value] | null} of `el`, or of the element whose data-lookout-id is arg
//   resolve  -> {css: [data-lookout-id...], testid: [...]} for arg {css, testid}
//   find     -> for arg [text...], the smallest visible element holding each text: {css, before, after} | null
//   read     -> for arg [css...], each element's visible text (null when missing or not unique)
(args, el) => {
  const [op, arg] = args;
  const ID_ATTR = "data-lookout-id";
  const TEST_ATTRS = ["data-testid", "data-test-id", "data-test", "data-qa", "data-cy"];

  function cssPath(node) {
    if (!node || node.nodeType !== 1) return null;
    if (node.getRootNode() !== node.ownerDocument) return null; // inside a shadow root: no document-wide path
    const parts = [];
    while (node && node.nodeType === 1 && node !== node.ownerDocument.documentElement) {
      const tag = node.tagName.toLowerCase();
      let index = 1;
      for (let sib = node.previousElementSibling; sib; sib = sib.previousElementSibling) {
        if (sib.tagName === node.tagName) index++;
      }
      parts.unshift(`${tag}:nth-of-type(${index})`);
      node = node.parentElement;
    }
    return parts.length ? "html > " + parts.join(" > ") : null;
  }

  function ids(list) {
    return Array.from(list, (n) => n.getAttribute(ID_ATTR)).filter((v) => v);
  }

  function all(selector) {
    try {
      return document.querySelectorAll(selector);
    } catch (e) {
      return [];
    }
  }

  const clean = (s) => (s || "").replace(/\s+/g, " ").trim();

  if (op === "capture") {
    const node = el || document.querySelector(`[${ID_ATTR}="${CSS.escape(arg)}"]`);
    if (!node) return null;
    let testid = null;
    for (const name of TEST_ATTRS) {
      if (node.hasAttribute(name)) {
        testid = [name, node.getAttribute(name)];
        break;
      }
    }
    return { css: cssPath(node), testid };
  }
  if (op === "resolve") {
    const out = {};
    if (arg.css) out.css = ids(all(arg.css));
    if (arg.testid) {
      const [name, value] = arg.testid;
      out.testid = ids(all(`[${name}="${CSS.escape(value)}"]`));
    }
    return out;
  }
  if (op === "find") {
    const visible = (n) => {
      const r = n.getBoundingClientRect();
      return r.width > 0 && r.height > 0;
    };
    return arg.map((wanted) => {
      const target = clean(wanted);
      if (!target) return null;
      let best = null;
      const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_ELEMENT);
      for (let n = walker.currentNode; n; n = walker.nextNode()) {
        if (n.nodeType !== 1 || ["SCRIPT", "STYLE", "NOSCRIPT"].includes(n.tagName)) continue;
        if (!clean(n.textContent).includes(target)) continue; // cheap first: innerText lays out
        const text = clean(n.innerText);
        if (!text.includes(target) || !visible(n)) continue;
        if (!best || text.length <= clean(best.innerText).length) best = n;
      }
      if (!best) return null;
      const text = clean(best.innerText);
      const at = text.indexOf(target);
      return {
        css: cssPath(best),
        before: text.slice(Math.max(0, at - 40), at),
        after: text.slice(at + target.length, at + target.length + 40),
      };
    });
  }
  if (op === "read") {
    return arg.map((selector) => {
      const found = all(selector);
      return found.length === 1 ? clean(found[0].innerText) : null;
    });
  }
  return null;
}
