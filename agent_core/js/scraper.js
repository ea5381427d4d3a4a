// Lookout DOM scraper: one call walks a document (and its same-origin iframes and open shadow roots),
// tags every visible, uncovered interactable element with data-lookout-id="eN" (kept across scrapes),
// and returns (as JSON text) a tree of element and context-text nodes; agent_core/scraper.py makes the listing.
// Evaluated with page.evaluate / frame.evaluate; `opts`: {framePath, offset, startSeq, maxText, html}.
(opts) => {
  "use strict";
  opts = opts || {};
  const MAX_TEXT = opts.maxText || 120;
  const MAX_OPTIONS = 40;
  const ID_ATTR = "data-lookout-id";
  const FRAME_ATTR = "data-lookout-frame";
  const ID_RE = /^e(\d+)$/;
  const SKIP_TAGS = new Set([
    "SCRIPT", "STYLE", "NOSCRIPT", "TEMPLATE", "HEAD", "META", "LINK", "TITLE", "BASE", "OPTION", "OPTGROUP",
    "DATALIST", "PARAM", "SOURCE", "TRACK", "MAP", "AREA",
  ]);
  const CONTROL_TAGS = new Set(["INPUT", "SELECT", "TEXTAREA", "BUTTON"]);
  const NATIVE_TAGS = new Set(["BUTTON", "SELECT", "TEXTAREA", "SUMMARY"]);
  const ROLES = new Set([
    "button", "link", "checkbox", "radio", "tab", "menuitem", "menuitemcheckbox", "menuitemradio", "option",
    "switch", "combobox", "textbox", "searchbox", "slider", "spinbutton", "treeitem",
  ]);
  const TEXT_INPUTS = new Set([
    "text", "email", "search", "tel", "url", "password", "number", "date", "datetime-local", "month", "week",
    "time", "color", "range",
  ]);
  const KEPT_ATTRS = new Set([
    "type", "name", "placeholder", "aria-label", "title", "alt", "href", "role", "id", "for", "accept",
    "autocomplete", "aria-expanded", "aria-haspopup", "aria-selected", "aria-checked", "aria-pressed",
    "aria-disabled", "aria-required", "aria-describedby", "required", "readonly", "multiple", "min", "max",
    "maxlength", "pattern", "target", "download", "value", "list", "aria-autocomplete",
  ]);
  // Form controls that a person fills in, and so needs a name: without one the layout gives it (layoutLabel).
  const NAMED_ROLES = new Set([
    "textbox", "combobox", "searchbox", "checkbox", "radio", "switch", "slider", "spinbutton",
  ]);
  const NAME_FROM_CONTENT = new Set(["checkbox", "radio", "switch"]);
  const BUTTON_TYPES = new Set(["submit", "button", "reset", "image", "hidden"]);
  const FIELD_SELECTOR =
    "input:not([type=hidden]):not([type=submit]):not([type=button]):not([type=reset]):not([type=image])," +
    "select,textarea,[contenteditable=''],[contenteditable=true],[role=textbox],[role=combobox],[role=searchbox]," +
    "[role=checkbox],[role=radio],[role=switch],[role=slider],[role=spinbutton]";
  const LAYOUT_LABEL_MAX = 80; // longer text is a paragraph, not a label
  const DATE_FORMATS = {
    date: "YYYY-MM-DD",
    month: "YYYY-MM",
    week: "YYYY-Www",
    time: "HH:MM",
    "datetime-local": "YYYY-MM-DDTHH:MM",
  };
  const LEFT_REACH = 200; // px: how far left of a field its label may sit
  const ABOVE_REACH = 40; // px: how far above
  // Which elements are controls beyond tags and roles, and what they are called: agent_core/js/controls.js,
  // spliced in here by agent_core/scraper.py (scraper_js).
  /* @include controls.js */

  const top = { seq: 0, maxSeen: 0, used: new Set(), records: [], pendingFrames: [] };

  function collapse(s) {
    return (s || "").replace(/\s+/g, " ").trim();
  }
  function clip(s) {
    s = collapse(s);
    return s.length > MAX_TEXT ? s.slice(0, MAX_TEXT - 1) + "\u2026" : s;
  }
  function docToken(doc) {
    if (!doc.__lookoutToken) doc.__lookoutToken = Math.random().toString(36).slice(2, 12);
    return doc.__lookoutToken;
  }
  function composedContains(ancestor, node) {
    for (let n = node; n; n = n.parentNode || n.host) {
      if (n === ancestor) return true;
    }
    return false;
  }
  // Who listens for key events on a text field (see watcher.js): what input_text types key by key.
  function keysOf(el) {
    const watch = el.ownerDocument.defaultView && el.ownerDocument.defaultView.__lookoutWatch;
    return watch ? watch.keysOf(el) : "unknown";
  }
  function roleOf(el) {
    return (el.getAttribute("role") || "").trim().toLowerCase().split(/\s+/)[0];
  }

  // Text of a label without its control (a wrapping <label> also holds the input or the select's options).
  function labelText(node) {
    let out = "";
    for (const child of node.childNodes) {
      if (child.nodeType === 3) out += child.nodeValue;
      else if (child.nodeType === 1 && !CONTROL_TAGS.has(child.tagName) && !SKIP_TAGS.has(child.tagName)) {
        out += " " + labelText(child) + " ";
      }
    }
    return out;
  }
  function textOfIds(el, ids) {
    const root = el.getRootNode();
    const parts = [];
    for (const id of ids.split(/\s+/)) {
      const target = id && root.getElementById ? root.getElementById(id) : null;
      if (target) parts.push(target.innerText !== undefined ? target.innerText : target.textContent);
    }
    return collapse(parts.join(" "));
  }
  function labelOf(el) {
    const ids = el.getAttribute("aria-labelledby");
    if (ids) {
      const text = textOfIds(el, ids);
      if (text) return text;
    }
    if (el.labels && el.labels.length) {
      const text = collapse(Array.from(el.labels, (l) => labelText(l)).join(" "));
      if (text) return text;
    }
    return collapse(el.getAttribute("aria-label"));
  }

  // ---- labels from the layout -----------------------------------------------------------------------------
  // A field with no accessible name gets the label a person would read: the text sharing its smallest
  // wrapper (no other field in it), else the nearest text to its left or just above.
  function needsLayoutLabel(el, tag, kind, text) {
    if (kind === "label") return false;
    if (el.getAttribute("placeholder") || el.getAttribute("title")) return false; // a name already
    if (tag === "INPUT") return !BUTTON_TYPES.has((el.type || "text").toLowerCase());
    if (tag === "SELECT" || tag === "TEXTAREA" || kind === "editable") return true;
    if (kind === "focusable") return !text; // a custom widget's handle: named like a field
    const role = roleOf(el);
    if (NAME_FROM_CONTENT.has(role) && text) return false; // <div role=checkbox>Remember me</div>
    return NAMED_ROLES.has(role);
  }
  function isInteractive(el) {
    const tag = el.tagName;
    return CONTROL_TAGS.has(tag) || tag === "A" || tag === "LABEL" || ROLES.has(roleOf(el));
  }
  // Visible text nodes under `root`, outside `skip`, interactive elements and what `skip` is described by.
  function textNodes(root, skip, describedBy) {
    const out = [];
    const walker = root.ownerDocument.createTreeWalker(root, NodeFilter.SHOW_ELEMENT | NodeFilter.SHOW_TEXT, {
      acceptNode(node) {
        if (node.nodeType === 3) return collapse(node.nodeValue) ? NodeFilter.FILTER_ACCEPT : NodeFilter.FILTER_SKIP;
        if (node === skip || SKIP_TAGS.has(node.tagName) || isInteractive(node) || describedBy.has(node.id)) {
          return NodeFilter.FILTER_REJECT;
        }
        return node.checkVisibility && !node.checkVisibility({ visibilityProperty: true })
          ? NodeFilter.FILTER_REJECT
          : NodeFilter.FILTER_SKIP;
      },
    });
    for (let node = walker.nextNode(); node; node = walker.nextNode()) out.push(node);
    return out;
  }
  function layoutLabel(el) {
    const doc = el.ownerDocument;
    const describedBy = new Set((el.getAttribute("aria-describedby") || "").split(/\s+/).filter(Boolean));
    let parent = el.parentElement;
    for (let depth = 0; parent && depth < 3 && parent !== doc.body; depth++, parent = parent.parentElement) {
      if (parent.querySelectorAll(FIELD_SELECTOR).length > 1) break; // shared: its text may be another's
      const text = collapse(textNodes(parent, el, describedBy).map((n) => n.nodeValue).join(" "));
      if (text) {
        if (text.length <= LAYOUT_LABEL_MAX) return text;
        break;
      }
    }
    const box = el.getBoundingClientRect();
    let scope = el.parentElement;
    for (let depth = 0; scope && depth < 3 && scope.parentElement && scope !== doc.body; depth++) scope = scope.parentElement;
    if (!scope) return "";
    let best = "";
    let bestDistance = Infinity;
    const range = doc.createRange();
    for (const node of textNodes(scope, el, describedBy)) {
      range.selectNodeContents(node);
      const r = range.getBoundingClientRect();
      if (r.width < 1 || r.height < 1) continue;
      let distance = Infinity;
      const sameRow = r.top < box.bottom && r.bottom > box.top;
      const sameColumn = r.left < box.right && r.right > box.left;
      if (sameRow && r.right <= box.left + 4 && box.left - r.right <= LEFT_REACH) distance = box.left - r.right;
      else if (sameColumn && r.bottom <= box.top + 4 && box.top - r.bottom <= ABOVE_REACH) distance = box.top - r.bottom;
      const text = collapse(node.nodeValue);
      if (distance < bestDistance && text.length <= LAYOUT_LABEL_MAX) {
        best = text;
        bestDistance = distance;
      }
    }
    return best;
  }

  // Document extent and viewport, read once per document (layout queries are what makes scraping slow).
  const metricsMemo = new Map();
  function metrics(doc, win) {
    let m = metricsMemo.get(doc);
    if (!m) {
      const root = doc.documentElement;
      m = {
        sx: win.scrollX,
        sy: win.scrollY,
        width: Math.max(root ? root.scrollWidth : 0, win.innerWidth),
        height: Math.max(root ? root.scrollHeight : 0, win.innerHeight),
      };
      metricsMemo.set(doc, m);
    }
    return m;
  }
  function offDocument(el, rect, win) {
    const m = metrics(el.ownerDocument, win);
    return (
      rect.right + m.sx <= 0 || rect.bottom + m.sy <= 0 ||
      rect.left + m.sx >= m.width || rect.top + m.sy >= m.height
    );
  }
  function boxVisible(el, style, rect, win) {
    if (rect.width < 1 || rect.height < 1) return false;
    if (style.visibility !== "visible") return false;
    return !offDocument(el, rect, win);
  }
  // Covered: some probe point lies inside the viewport and none of them reaches the element (or one of
  // its labels, which forward the click). Elements entirely outside the viewport cannot be probed.
  function covered(el, rect, win) {
    const root = el.getRootNode();
    if (!root.elementFromPoint) return false;
    const w = win.innerWidth, h = win.innerHeight;
    const points = [
      [rect.left + rect.width / 2, rect.top + rect.height / 2],
      [rect.left + rect.width * 0.25, rect.top + rect.height * 0.25],
      [rect.left + rect.width * 0.75, rect.top + rect.height * 0.25],
      [rect.left + rect.width * 0.25, rect.top + rect.height * 0.75],
      [rect.left + rect.width * 0.75, rect.top + rect.height * 0.75],
    ];
    let probed = false;
    for (const [x, y] of points) {
      if (x < 0 || y < 0 || x >= w || y >= h) continue;
      probed = true;
      const hit = root.elementFromPoint(x, y);
      if (!hit) continue;
      if (hit === el || composedContains(el, hit)) return false;
      if (el.labels) {
        for (const label of el.labels) if (composedContains(label, hit)) return false;
      }
    }
    return probed;
  }

  // Boxes that hide their content without display/visibility: the screen-reader-only pattern (clipped to
  // a pixel), zero-size boxes with overflow hidden, and things positioned off the document.
  function boxHidden(el, style, win) {
    const position = style.position;
    const positioned = position === "absolute" || position === "fixed";
    const overflow = style.overflow;
    const clips = overflow !== "visible" || (positioned && style.clip !== "auto");
    if (!positioned && !clips) return false;
    const rect = el.getBoundingClientRect();
    if (clips && (rect.width <= 1 || rect.height <= 1)) return true;
    return positioned && offDocument(el, rect, win);
  }

  function interactiveKind(el, tag, pointerStyle, ctx) {
    if (tag === "INPUT") return el.type === "hidden" ? null : "input";
    if (NATIVE_TAGS.has(tag)) return tag.toLowerCase();
    if (tag === "A" && el.hasAttribute("href")) return "link";
    const role = roleOf(el);
    if (role && ROLES.has(role)) return "role";
    if (el.isContentEditable && !(el.parentElement && el.parentElement.isContentEditable)) return "editable";
    if (tag === "BODY" || tag === "HTML") return null;
    if (el.hasAttribute("onclick")) return "onclick";
    const info = ctx.clicks;
    if (ownClick(el, info) || (info.delegates.length && delegatedTo(el, info))) return "listener";
    if (el.getAttribute("draggable") === "true") return "draggable";
    if (el.hasAttribute("tabindex") && el.tabIndex >= 0) return "focusable";
    // cursor:pointer marks custom widgets, but children inherit it: only the outermost pointer element
    // counts, and never inside an element that is already listed.
    if (pointerStyle && !ctx.parentPointer) return "pointer";
    // Under a listener that may delegate (a feed that dispatches on the clicked icon's class).
    if (ctx.delegating && !ctx.inInteractive && iconLike(el, ctx.delegating === DOCUMENT)) return "icon";
    return null;
  }

  // A menu item's open submenu (a listbox, a dialog) is listed line by line: it is not the item's name.
  const POPUPS = "[role=menu],[role=menubar],[role=listbox],[role=tree],[role=grid],[role=dialog]";
  function textBesidePopups(el) {
    let out = "";
    for (const child of el.childNodes) {
      if (child.nodeType === 3) out += child.nodeValue;
      else if (child.nodeType !== 1 || child.matches(POPUPS) || SKIP_TAGS.has(child.tagName)) continue;
      else if (child.checkVisibility && !child.checkVisibility({ visibilityProperty: true })) continue;
      else out += " " + (child.querySelector(POPUPS) ? textBesidePopups(child) : child.innerText ?? child.textContent) + " ";
    }
    return out;
  }

  function elementText(el, tag) {
    if (tag === "INPUT") {
      const t = (el.type || "").toLowerCase();
      return t === "submit" || t === "button" || t === "reset" ? el.value || "" : "";
    }
    if (tag === "SELECT" || tag === "TEXTAREA") return "";
    let text = el.querySelector && el.querySelector(POPUPS) ? textBesidePopups(el) : el.innerText;
    if (text === undefined) text = el.textContent;
    if (!collapse(text)) {
      const img = el.querySelector && el.querySelector("img[alt], [aria-label], svg title");
      if (img) text = img.getAttribute("alt") || img.getAttribute("aria-label") || img.textContent;
    }
    return collapse(text);
  }

  function describe(el, tag, kind, rect, ctx) {
    const attrs = {};
    for (const attr of el.attributes) {
      if (KEPT_ATTRS.has(attr.name)) attrs[attr.name] = attr.value.length > 300 ? attr.value.slice(0, 300) : attr.value;
    }
    const type = tag === "INPUT" ? (el.type || "text").toLowerCase() : null;
    const role = roleOf(el) || null;
    const fullText = elementText(el, tag);
    let label = labelOf(el);
    if (!label && needsLayoutLabel(el, tag, kind, fullText)) label = layoutLabel(el);
    // An icon-only control (no words, no aria-label, title or alt) is named by its icon's class words.
    const field = tag === "SELECT" || tag === "TEXTAREA" || (tag === "INPUT" && !BUTTON_TYPES.has(type));
    if (!label && !field && noWords(fullText) && !el.getAttribute("title") && !el.getAttribute("alt")) {
      label = iconName(el);
    }
    const node = {
      type: "element",
      id: null,
      tag: tag.toLowerCase(),
      kind,
      attrs,
      text: clip(fullText),
      long_text: fullText.length > MAX_TEXT,
      input_type: type,
      role,
      label: clip(label),
      keys: null,
      value: null,
      checked: null,
      selected: null,
      disabled: false,
      readonly: false,
      required: false,
      expanded: null,
      editable: kind === "editable" || !!el.isContentEditable,
      options: null,
      files: null,
      frame_path: ctx.framePath,
      in_shadow: ctx.inShadow,
      rect: [
        Math.round((rect.left + ctx.offX) * 10) / 10,
        Math.round((rect.top + ctx.offY) * 10) / 10,
        Math.round(rect.width * 10) / 10,
        Math.round(rect.height * 10) / 10,
      ],
      doc_token: docToken(el.ownerDocument),
      children: [],
    };
    if (tag === "INPUT") {
      if (type === "checkbox" || type === "radio") {
        node.checked = !!el.checked;
        const v = el.getAttribute("value");
        node.value = v !== null && v !== "on" ? v : null;
      } else if (type === "file") {
        node.files = Array.from(el.files || [], (f) => f.name);
      } else if (type !== "submit" && type !== "button" && type !== "reset" && type !== "image") {
        node.value = type === "password" ? (el.value ? "********" : "") : clip(el.value);
        node.keys = keysOf(el);
        if (type !== "password" && collapse(el.value).length > MAX_TEXT) node.truncated = true;
      }
    } else if (tag === "TEXTAREA") {
      node.value = clip(el.value);
      node.keys = keysOf(el);
      if (collapse(el.value).length > MAX_TEXT) node.truncated = true;
    } else if (tag === "SELECT") {
      const options = Array.from(el.options);
      node.options = options.slice(0, MAX_OPTIONS).map((o) => ({
        label: clip(o.label || o.text),
        value: o.value,
        selected: o.selected,
        disabled: o.disabled,
      }));
      node.options_total = options.length;
      node.value = el.multiple
        ? options.filter((o) => o.selected).map((o) => o.value).join(",")
        : el.value;
      if (el.multiple) node.multiple = true;
    } else if (node.editable || NAMED_ROLES.has(role || "")) {
      node.keys = keysOf(el);
    }
    if (CONTROL_TAGS.has(tag)) {
      node.disabled = el.matches(":disabled");
      node.readonly = !!el.readOnly;
      node.required = !!el.required;
    }
    if (attrs["aria-disabled"] === "true") node.disabled = true;
    if (attrs["aria-required"] === "true") node.required = true;
    const ariaChecked = attrs["aria-checked"] ?? null;
    if (node.checked === null && ariaChecked !== null && role) {
      node.checked = ariaChecked === "mixed" ? "mixed" : ariaChecked === "true";
    }
    const ariaPressed = attrs["aria-pressed"] ?? null;
    if (node.checked === null && ariaPressed !== null) node.checked = ariaPressed === "true";
    const ariaSelected = attrs["aria-selected"] ?? null;
    if (ariaSelected !== null) node.selected = ariaSelected === "true";
    const ariaExpanded = attrs["aria-expanded"] ?? null;
    if (ariaExpanded !== null) node.expanded = ariaExpanded === "true";
    const haspopup = collapse(attrs["aria-haspopup"]).toLowerCase();
    if (haspopup && haspopup !== "false") node.haspopup = haspopup === "true" ? "menu" : haspopup;
    describeRange(el, node, type, role);
    // The description (aria-describedby) is where forms put "Email is invalid." next to an input.
    const describedBy = attrs["aria-describedby"];
    if (describedBy) node.description = clip(textOfIds(el, describedBy));
    top.records.push({ el, node });
    return node;
  }

  // Sliders, spinners and date fields: their range, step and the format their value takes.
  function describeRange(el, node, type, role) {
    const aria = role === "slider" || role === "spinbutton";
    const format = type ? DATE_FORMATS[type] : undefined;
    if (!aria && type !== "range" && type !== "number" && !format) return;
    const attr = (name) => {
      const v = collapse(el.getAttribute(name));
      return v ? v.slice(0, 40) : null;
    };
    const native = node.tag === "input";
    node.value_min = native ? attr("min") ?? attr("aria-valuemin") : attr("aria-valuemin") ?? attr("min");
    node.value_max = native ? attr("max") ?? attr("aria-valuemax") : attr("aria-valuemax") ?? attr("max");
    if (type === "range") { // what the browser assumes when the page says nothing
      node.value_min = node.value_min ?? "0";
      node.value_max = node.value_max ?? "100";
    }
    const step = native ? attr("step") : null;
    if (step && step !== "any") node.value_step = step;
    if (!native) node.value = attr("aria-valuenow");
    const valuetext = aria ? attr("aria-valuetext") : null;
    if (valuetext && valuetext !== node.value) node.valuetext = valuetext;
    if (format) {
      const seconds = step !== null && Number(step) > 0 && Number(step) < 60;
      node.value_format = seconds && (type === "time" || type === "datetime-local") ? format + ":SS" : format;
    }
  }

  // ---- the walk: document order, text gathered into lines per block ------------------------------------
  function makeSink(out) {
    return { out, buf: "", listed: true };
  }
  function flush(sink) {
    const text = collapse(sink.buf);
    sink.buf = "";
    if (text) {
      const kept = text.length > 4000 ? text.slice(0, 3999) + "\u2026" : text;
      sink.out.push({ type: "text", text: kept, listed: sink.listed });
    }
  }

  function walkChildren(parent, ctx, sink) {
    const root = parent.shadowRoot; // open roots only; closed ones are invisible to us by design
    if (root) {
      const shadowCtx = Object.assign({}, ctx, { inShadow: true });
      for (let child = root.firstChild; child; child = child.nextSibling) walkNode(child, shadowCtx, sink);
      return; // light children render through slots, which walkNode follows
    }
    for (let child = parent.firstChild; child; child = child.nextSibling) walkNode(child, ctx, sink);
  }

  function walkNode(node, ctx, sink) {
    if (node.nodeType === 3) {
      if (ctx.textVisible && !ctx.suppressText) sink.buf += node.nodeValue;
      return;
    }
    if (node.nodeType !== 1) return;
    const el = node;
    const tag = el.tagName.toUpperCase();
    if (SKIP_TAGS.has(tag)) return;
    if (tag === "SLOT") {
      const assigned = el.assignedNodes({ flatten: false });
      const nodes = assigned.length ? assigned : el.childNodes;
      for (const child of nodes) walkNode(child, ctx, sink);
      return;
    }
    const win = el.ownerDocument.defaultView;
    if (!win) return;
    const style = win.getComputedStyle(el);
    if (style.display === "none") return;
    if (tag === "IFRAME" || tag === "FRAME") {
      walkFrame(el, style, ctx, sink);
      return;
    }
    const display = style.display;
    const isBlock = display !== "contents" && !display.startsWith("inline") && display !== "table-cell";
    const isCell = display === "table-cell";
    const transparent = style.opacity === "0";
    const clipped = ctx.clipped || boxHidden(el, style, win);
    const textVisible = style.visibility === "visible" && !transparent && !ctx.transparent && !clipped;
    if (isBlock) flush(sink);
    if (isCell && collapse(sink.buf)) sink.buf += " | ";

    const pointerStyle = !ctx.inInteractive && style.cursor === "pointer";
    let kind = interactiveKind(el, tag, pointerStyle, ctx);
    // Style sheets give labels a pointer cursor; a label is listed only to stand in for a hidden control.
    if (tag === "LABEL" && SOFT_KINDS.has(kind) && el.control) kind = null;
    const soft = SOFT_KINDS.has(kind);
    let listedNode = null;
    let blocked = false; // covered by something else: its words go with it
    if (kind || tag === "LABEL") {
      const rect = el.getBoundingClientRect();
      let listed = !!kind && boxVisible(el, style, rect, win) && !(blocked = covered(el, rect, win));
      let proxyFor = null;
      if (listed && (transparent || ctx.transparent) && el.labels && el.labels.length) {
        listed = false; // an invisible input styled through its label: the label stands in for it
      }
      if (tag === "LABEL" && !kind) {
        const control = el.control;
        if (control && control.ownerDocument === el.ownerDocument && !isListable(control)) {
          listed = boxVisible(el, style, rect, win) && !covered(el, rect, win);
          proxyFor = control;
        }
      }
      if (listed) {
        flush(sink);
        listedNode = describe(el, tag, proxyFor ? "label" : kind, rect, ctx);
        if (proxyFor) copyControlState(listedNode, proxyFor);
        sink.out.push(listedNode);
      }
    }

    let childCtx = ctx;
    let childSink = sink;
    // Only outside listed elements can an inherited pointer cursor matter (see interactiveKind).
    const pointer = pointerStyle && !listedNode;
    const delegating =
      kind === "onclick" || kind === "listener" || ctx.clicks.containers.has(el) ? ELEMENT : ctx.delegating;
    if (listedNode && soft) {
      // Found by behaviour: maybe one control, maybe a container that delegates (a feed, a toolbar). Its
      // inside is walked as if it were not listed, and settleSoft decides once it is known.
      listedNode.soft = true;
      childSink = makeSink(listedNode.children);
      childSink.listed = sink.listed;
      childCtx = Object.assign({}, ctx, {
        clipped,
        delegating,
        parentPointer: pointerStyle || ctx.parentPointer,
        textVisible,
        transparent: ctx.transparent || transparent,
      });
    } else if (listedNode) {
      // Short texts live on the element's line; long ones (a clickable card, a wrapper with onclick) are
      // walked as context lines too, so nothing the page says is lost to clipping.
      childSink = makeSink(listedNode.children);
      childSink.listed = sink.listed;
      childCtx = Object.assign({}, ctx, {
        clipped,
        inInteractive: true,
        parentPointer: pointer,
        suppressText: ctx.suppressText || !listedNode.long_text,
        textVisible,
        transparent: ctx.transparent || transparent,
      });
    } else {
      const labelsListedControl = tag === "LABEL" && el.control && isListable(el.control);
      childCtx = Object.assign({}, ctx, {
        // An interactable we did not list (hidden, covered) takes its words with it.
        // (Behaviour-found ones that are merely zero-sized, like a wrapper of floats, keep theirs.)
        clipped: clipped || (!!kind && !listedNode && (!soft || blocked)),
        delegating,
        parentPointer: pointer,
        textVisible: textVisible && !(kind && !listedNode),
        transparent: ctx.transparent || transparent,
      });
      if (labelsListedControl && sink.listed) {
        // The label's words are already on its control's line: keep them out of the listing, not the text.
        flush(sink);
        childSink = makeSink(sink.out);
        childSink.listed = false;
      }
    }
    // Options are summarised on the select's line; SVG internals are drawing, not text.
    if (tag !== "SELECT" && tag !== "TEXTAREA" && !(el instanceof win.SVGElement)) {
      walkChildren(el, childCtx, childSink);
    }
    if (childSink !== sink) flush(childSink);
    if (listedNode && listedNode.soft) settleSoft(listedNode, sink.out);
    if (isBlock || listedNode) flush(sink);
  }

  const listableMemo = new Map();
  function isListable(el) {
    if (listableMemo.has(el)) return listableMemo.get(el);
    const win = el.ownerDocument.defaultView;
    let ok = false;
    if (win) {
      const style = win.getComputedStyle(el);
      const rect = el.getBoundingClientRect();
      ok = style.display !== "none" && style.opacity !== "0" && boxVisible(el, style, rect, win) && !covered(el, rect, win);
      for (let p = el.parentElement; ok && p; p = p.parentElement) {
        const s = win.getComputedStyle(p);
        if (s.display === "none" || s.opacity === "0") ok = false;
      }
    }
    listableMemo.set(el, ok);
    return ok;
  }

  function copyControlState(node, control) {
    const type = control.tagName === "INPUT" ? (control.type || "").toLowerCase() : null;
    node.input_type = type;
    if (control.name) node.attrs.name = control.name;
    if (type === "checkbox" || type === "radio") node.checked = !!control.checked;
    if (type === "file") node.files = Array.from(control.files || [], (f) => f.name);
    node.disabled = control.matches(":disabled");
  }

  function walkFrame(el, style, ctx, sink) {
    const index = ctx.frameCounter.n++;
    el.setAttribute(FRAME_ATTR, String(index));
    const win = el.ownerDocument.defaultView;
    const rect = el.getBoundingClientRect();
    if (!boxVisible(el, style, rect, win) || covered(el, rect, win)) return;
    flush(sink);
    const path = ctx.framePath.concat([index]);
    const offX = ctx.offX + rect.left + el.clientLeft + (parseFloat(style.paddingLeft) || 0);
    const offY = ctx.offY + rect.top + el.clientTop + (parseFloat(style.paddingTop) || 0);
    const frameNode = { type: "frame", path, cross_origin: false, title: el.getAttribute("title") || "", children: [] };
    sink.out.push(frameNode);
    let inner = null;
    try {
      inner = el.contentDocument;
    } catch (e) {
      inner = null;
    }
    if (!inner || !inner.documentElement) {
      frameNode.cross_origin = true;
      top.pendingFrames.push({ path, offset: [offX, offY] });
      return;
    }
    const frameSink = makeSink(frameNode.children);
    frameSink.listed = sink.listed;
    walkDocument(inner, {
      framePath: path,
      offX,
      offY,
      inInteractive: false,
      parentPointer: false,
      suppressText: false,
      textVisible: true,
      transparent: ctx.transparent,
      clipped: false,
      inShadow: false,
      frameCounter: { n: 0 },
    }, frameSink);
    flush(frameSink);
  }

  function walkDocument(doc, ctx, sink) {
    const existing = doc.querySelectorAll("[" + ID_ATTR + "]");
    for (const el of existing) {
      const m = ID_RE.exec(el.getAttribute(ID_ATTR) || "");
      if (m) top.maxSeen = Math.max(top.maxSeen, +m[1]);
    }
    docToken(doc);
    const clicks = clickInfo(doc);
    if (doc.body) walkNode(doc.body, Object.assign({}, ctx, { clicks, delegating: clicks.doc ? DOCUMENT : 0 }), sink);
  }

  // ---- run ------------------------------------------------------------------------------------------
  const tree = [];
  const rootSink = makeSink(tree);
  const framePath = opts.framePath || [];
  const offset = opts.offset || [0, 0];
  walkDocument(document, {
    framePath,
    offX: offset[0],
    offY: offset[1],
    inInteractive: false,
    parentPointer: false,
    suppressText: false,
    textVisible: true,
    transparent: false,
    clipped: false,
    inShadow: false,
    frameCounter: { n: 0 },
  }, rootSink);
  flush(rootSink);

  // Ids: keep an element's existing id unless another element already took it in this scrape (a cloned
  // node carries its original's attribute); new ids continue the window's counter, so an id is never
  // handed to a second element while the document lives.
  let seq = Math.max(window.__lookoutSeq || 0, opts.startSeq || 0, top.maxSeen);
  top.records = top.records.filter((record) => !record.node.dropped);
  for (const { el, node } of top.records) {
    const current = el.getAttribute(ID_ATTR);
    if (current && ID_RE.test(current) && !top.used.has(current)) {
      node.id = current;
    } else {
      node.id = "e" + ++seq;
      el.setAttribute(ID_ATTR, node.id);
    }
    top.used.add(node.id);
  }
  window.__lookoutSeq = seq;
  // Leave defaults out of the JSON (scraper.py reads absent fields as their defaults): big pages halve in size.
  // (checked / selected / expanded keep their false: false is not "not applicable".)
  const FLAGS = new Set([
    "disabled", "readonly", "required", "editable", "in_shadow", "long_text", "multiple", "truncated",
  ]);
  for (const { node } of top.records) {
    delete node.soft;
    for (const key of Object.keys(node)) {
      const v = node[key];
      if (v === null || v === "" || (v === false && FLAGS.has(key)) || (Array.isArray(v) && v.length === 0)) {
        delete node[key];
      }
    }
  }

  // The focused element, through open shadow roots and same-origin iframes (null: nothing listed has focus).
  let active = document.activeElement;
  for (;;) {
    if (active && active.shadowRoot && active.shadowRoot.activeElement) active = active.shadowRoot.activeElement;
    else if (active && (active.tagName === "IFRAME" || active.tagName === "FRAME")) {
      let inner = null;
      try {
        inner = active.contentDocument && active.contentDocument.activeElement;
      } catch (e) {
        inner = null;
      }
      if (!inner || inner === active.contentDocument.body) break;
      active = inner;
    } else break;
  }
  const focused = active && top.used.has(active.getAttribute(ID_ATTR)) ? active.getAttribute(ID_ATTR) : null;

  // A JSON string: Playwright serialises a plain string far faster than a deep object.
  return JSON.stringify({
    url: location.href,
    title: document.title,
    tree,
    seq,
    doc: docToken(document),
    focused,
    pending_frames: top.pendingFrames,
    html: opts.html === false ? "" : document.documentElement ? document.documentElement.outerHTML : "",
  });
}
