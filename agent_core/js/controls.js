// Lookout DOM scraper, part two: which elements are controls beyond tags and roles (click listeners the page
// watcher saw, jQuery's delegated selectors, icons under a delegating listener), what an icon-only control is
// called, and one entry per control (containers and wrappers settled after their inside is walked).
// Not a script of its own: agent_core/scraper.py splices it into scraper.js at `/* @include controls.js */`,
// inside the scraper's function, whose helpers (collapse, ID_ATTR, ...) it uses.
  // Kinds found by behaviour rather than by tag or role ("soft"): listed only when they turn out to be one
  // control (see settleSoft); a native control, a role or a focus target inside one wins over it.
  const SOFT_KINDS = new Set(["onclick", "listener", "draggable", "icon", "pointer", "focusable"]);
  const JQ_TYPES = [
    "click", "dblclick", "contextmenu", "mousedown", "mouseup", "pointerdown", "pointerup", "touchstart", "touchend",
  ];
  // Words that name what an icon does, as pages write them in class, id and data-* names ("btn-like",
  // "icon-trash", "ui-spinner-up", data-retweet): an icon-only control is named by them.
  const ACTION_WORDS = new Set((
    "like unlike love heart favorite favourite star reply comment comments retweet repost reshare share more " +
    "menu options settings gear cog close dismiss cancel delete remove trash bin edit pencil save bookmark " +
    "download upload search filter sort refresh reload add plus minus create copy duplicate print send play " +
    "pause stop next prev previous back forward up down left right expand collapse home user profile account " +
    "cart basket bell notifications notification mail email message messages chat info help lock unlock eye " +
    "upvote downvote vote flag report pin attach attachment link unlink calendar clock zoom fullscreen mute " +
    "unmute volume camera photo image video mic microphone logout login signin signout follow unfollow block " +
    "subscribe hamburger kebab ellipsis dots tick undo redo increment decrement increase decrease slider handle " +
    "thumb knob toggle caret chevron arrow archive reset submit apply confirm accept reject decline approve " +
    "call phone map location translate emoji gif poll quote bold italic underline"
  ).split(" "));
  const DOCUMENT = 1, ELEMENT = 2; // ctx.delegating: who listens for clicks above (0: nobody we know of)
  const ICON_MAX_WIDTH = 160; // px: an icon control (with its count) is small
  const ICON_MAX_HEIGHT = 64;

  // ---- what listens for clicks ------------------------------------------------------------------------
  // The page watcher (watcher.js, an init script) saw every addEventListener: `clickTargets` are elements with
  // a click-like listener of their own, `docClicks` says the document listens (and may delegate anywhere).
  // jQuery keeps a delegated handler's selector in its data: `$(feed).on("click", ".like", f)` makes every
  // `.like` in the feed a control. Read once per document.
  const clickMemo = new Map();
  function clickInfo(doc) {
    let info = clickMemo.get(doc);
    if (info) return info;
    const win = doc.defaultView;
    const watch = (win && win.__lookoutWatch) || null;
    info = {
      targets: watch ? watch.clickTargets : null,
      doc: !!(watch && watch.docClicks) || !!(win && (win.onclick || doc.onclick || (doc.body && doc.body.onclick))),
      delegates: [],
      containers: new Set(),
    };
    const jq = win && win.jQuery;
    if (watch && jq && typeof jq._data === "function") {
      for (const ref of watch.clickRefs || []) {
        const target = ref.deref();
        let events = null;
        try {
          events = target ? jq._data(target, "events") : null;
        } catch (e) {
          events = null;
        }
        if (!events) continue;
        for (const type of JQ_TYPES) {
          for (const handler of events[type] || []) {
            if (handler && typeof handler.selector === "string" && handler.selector) {
              info.delegates.push({ container: target, selector: handler.selector });
              info.containers.add(target);
            }
          }
        }
      }
    }
    clickMemo.set(doc, info);
    return info;
  }
  function ownClick(el, info) {
    return (
      (!!info.targets && info.targets.has(el)) ||
      !!(el.onclick || el.ondblclick || el.oncontextmenu || el.onmousedown || el.onpointerdown || el.ontouchstart)
    );
  }
  function delegatedTo(el, info) {
    for (const { container, selector } of info.delegates) {
      if (container === el) continue;
      const inside = container.nodeType === 1 ? container.contains(el) : true; // a document or window
      if (!inside) continue;
      try {
        if (el.matches(selector)) return true;
      } catch (e) {
        // a selector only jQuery understands (":first"): not ours to judge
      }
    }
    return false;
  }

  // ---- names of icon-only controls --------------------------------------------------------------------
  function actionWords(value, out) {
    const words = value.replace(/([a-z])([A-Z])/g, "$1 $2").toLowerCase().split(/[^a-z]+/);
    for (const word of words) if (ACTION_WORDS.has(word) && !out.includes(word)) out.push(word);
  }
  // `dataOnly`: only data-* names and values, the hooks a script dispatches on (class words are often styling).
  function ownActionWords(el, dataOnly) {
    const out = [];
    if (!dataOnly) {
      actionWords(el.getAttribute("class") || "", out);
      actionWords(el.getAttribute("id") || "", out);
    }
    for (const attr of el.attributes) {
      if (!attr.name.startsWith("data-") || attr.name === ID_ATTR || attr.name === FRAME_ATTR) continue;
      actionWords(attr.name.slice(5), out);
      if (/^[A-Za-z][A-Za-z_\- ]{0,40}$/.test(attr.value)) actionWords(attr.value, out); // not ids, not uuids
    }
    const tag = el.tagName.toLowerCase();
    if (tag === "use") actionWords(el.getAttribute("href") || el.getAttribute("xlink:href") || "", out);
    if (tag === "img" && !dataOnly) {
      const file = (el.getAttribute("src") || "").split(/[?#]/)[0].split("/").pop();
      if (file.length <= 60 && !/^data:/i.test(el.getAttribute("src") || "")) actionWords(file, out); // "trash.svg"
    }
    return out;
  }
  // The control's own words first, else those of the icon inside it (`<button><i class="fa-trash">`).
  function iconName(el) {
    let words = ownActionWords(el);
    if (!words.length) {
      const inner = el.querySelectorAll("*");
      for (let i = 0; i < inner.length && i < 12 && !words.length; i++) words = ownActionWords(inner[i]);
    }
    return words.slice(0, 2).join(" ");
  }
  // Text a person does not read as a name: empty, symbols ("▲", "×", "♥"), or a count ("12", "1.2K").
  function noWords(text) {
    return !/[\p{L}\p{N}]/u.test(text) || /^\d[\d.,]*\s*[KkMm]?$/.test(text);
  }
  // An icon control under a delegating listener: small, no words of its own, an action word in its classes,
  // id or data-* (only data-* under a listener on the whole document, which pages add for many reasons:
  // closing menus on an outside click, analytics).
  function iconLike(el, dataOnly) {
    if (!ownActionWords(el, dataOnly).length) return false;
    const rect = el.getBoundingClientRect();
    if (rect.width > ICON_MAX_WIDTH || rect.height > ICON_MAX_HEIGHT) return false;
    return noWords(collapse(el.textContent));
  }

  // ---- one entry per control --------------------------------------------------------------------------
  function listedInside(nodes, out) {
    for (const node of nodes) {
      if (node.type === "element" && !node.dropped) out.push(node);
      if (node.children) listedInside(node.children, out);
    }
    return out;
  }
  // Take `node` out of the listing, leaving what it held (context text, controls) in its place in `nodes`.
  function unlist(node, nodes) {
    node.dropped = true;
    const at = nodes.indexOf(node);
    if (at >= 0) {
      nodes.splice(at, 1, ...node.children);
      return true;
    }
    for (const other of nodes) if (other.children && unlist(node, other.children)) return true;
    return false;
  }
  function hasName(node) {
    const a = node.attrs;
    return !!(node.text || node.label || a["aria-label"] || a.title || a.alt || a.placeholder);
  }
  function ownTextNodes(node) {
    return node.children.filter((child) => child.type === "text");
  }
  // A behaviour-found element (`node`, just walked, last in `siblings`) is:
  //  - a container when it holds two or more controls, or one control and a long text: not listed (a feed
  //    delegating to its icons, an app's root that a framework listens on);
  //  - the same control as the one control inside it when nothing else in it has words (a `<li onclick>`
  //    around its link, a like button around its heart icon and its count): listed once, the native or
  //    focusable one kept, else the outer one;
  //  - else a control of its own, listed only when it has a name; its own text is on its line.
  function settleSoft(node, siblings) {
    const inside = listedInside(node.children, []);
    if (inside.length >= 2 || (inside.length === 1 && node.long_text)) {
      unlist(node, siblings);
      return;
    }
    if (inside.length === 1) {
      const inner = inside[0];
      const rest = collapse(ownTextNodes(node).map((t) => t.text).join(" "));
      if (noWords(rest) || (node.text && node.text === inner.text)) {
        if (!inner.soft || inner.kind === "focusable") {
          if (!hasName(inner) && hasName(node)) inner.label = node.label || node.text || node.attrs["aria-label"] || "";
          unlist(node, siblings);
          return;
        }
        unlist(inner, node.children);
      }
    }
    if (!hasName(node)) {
      unlist(node, siblings);
      return;
    }
    if (!node.long_text) node.children = node.children.filter((child) => child.type !== "text");
  }
