// graphir interactive viewer: vanilla JS, no network, model strings only via textContent.
(function () {
  "use strict";
  var DATA = JSON.parse(document.getElementById("graphir-data").textContent);
  var NODES = DATA.nodes, STATES = DATA.states;
  var $ = function (id) { return document.getElementById(id); };
  var viewport = $("viewport"), canvas = $("canvas");
  var view = { x: 0, y: 0, k: 1 };
  var cur = -1, svg = null, domOf = {}, irOf = {}, edgeEls = {}, nodeEls = {};
  var selected = null, matches = [], matchIndex = -1, svgCache = {};

  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }
  function link(text, fn) {
    var a = el("a", text); a.href = "#"; a.addEventListener("click", function (ev) { ev.preventDefault(); fn(); });
    return a;
  }
  function setStatus(text) { $("status").textContent = text || ""; }

  // ---- page facts -------------------------------------------------------
  var meta = DATA.meta;
  $("page-title").textContent = meta.name || "graphir";
  document.title = meta.title || "graphir";
  $("facts").textContent = [meta.sourceInfo ? "source: " + meta.sourceInfo : null,
    meta.source ? "from " + meta.source : null, "graphir " + meta.version,
    meta.counts.nodes + " nodes in the IR, " + meta.counts.shown + " drawn in the first view"]
    .filter(Boolean).join(" · ");
  $("command").textContent = meta.command ? "made by: " + meta.command : "";
  var notes = (meta.notes || []).slice();
  (meta.about || []).forEach(function (row) { notes.push(row[0] + ": " + row[1]); });
  notes.forEach(function (n) { $("notes").appendChild(el("div", n)); });
  var leftOut = DATA.leftOut || [];
  $("left-out").appendChild(el("div", "This page holds " + DATA.states.length + " precomputed drawing" +
    (DATA.states.length === 1 ? "" : "s") + ": the first view" + (DATA.states.length > 1 ?
    " and the inside of each module you can open (copies of a ×N block share the first copy's drawing)." : ".")));
  if (leftOut.length) {
    var p = $("left-out");
    p.appendChild(el("strong", "Not precomputed (file-size budget): "));
    p.appendChild(el("span", leftOut.length + " module insides. Draw one with:"));
    leftOut.slice(0, 12).forEach(function (item) { p.appendChild(el("div", item.command, "mono")); });
    $("notes").appendChild(el("div", leftOut.length + " module insides were left out of this page to keep it small; press ? for the commands that draw them."));
  }

  // ---- search index -----------------------------------------------------
  var ORDER = DATA.order, HAY = new Array(ORDER.length);
  for (var i = 0; i < ORDER.length; i++) {
    var r = NODES[ORDER[i]];
    HAY[i] = [ORDER[i], r.name, r.label, r.op, r.module, r.module_type,
      (r.tensor_names ? JSON.stringify(r.tensor_names) : ""), (r.folded || []).join(" ")]
      .join("\n").toLowerCase();
  }
  // which states draw each node
  var DRAWN = Object.create(null);
  STATES.forEach(function (s, index) {
    for (var d in s.dom) { var id = s.dom[d]; (DRAWN[id] = DRAWN[id] || []).push(index); }
  });

  // ---- drawing states ---------------------------------------------------
  function svgText(index) {
    return document.getElementById("graphir-svg-" + index).textContent.split("<\\/").join("</");
  }
  function showState(index, keepView) {
    if (index === cur) return;
    var node = svgCache[index];
    if (!node && index === 0 && canvas.firstElementChild) {
      // the first drawing is inline in the page (parsed once, with the HTML)
      node = canvas.firstElementChild;
      var vb = (node.getAttribute("viewBox") || "0 0 100 100").split(/[\s,]+/).map(Number);
      node.setAttribute("width", vb[2]); node.setAttribute("height", vb[3]);
      svgCache[0] = node;
    }
    if (!node) {
      var doc = new DOMParser().parseFromString(svgText(index), "image/svg+xml");
      var root = doc.documentElement;
      if (root.nodeName !== "svg") { setStatus("this drawing could not be read"); return; }
      node = document.importNode(root, true);
      var box = (node.getAttribute("viewBox") || "0 0 100 100").split(/[\s,]+/).map(Number);
      node.setAttribute("width", box[2]); node.setAttribute("height", box[3]);
      svgCache[index] = node;
    }
    if (canvas.firstElementChild !== node || canvas.childNodes.length !== 1) {
      canvas.textContent = "";
      canvas.appendChild(node);
    }
    svg = node; cur = index;
    var st = STATES[index];
    domOf = Object.create(null); irOf = st.dom; edgeEls = null;
    var backdrop = node.querySelector("g.graph > polygon");
    viewport.style.background = backdrop && backdrop.getAttribute("fill") !== "transparent" ?
      backdrop.getAttribute("fill") : "#fff";
    // element lookups are lazy: a 2,000-node drawing paints before they are needed
    nodeEls = new Proxy({}, { get: function (cache, d) {
      if (!(d in cache)) cache[d] = irOf[d] !== undefined ? document.getElementById(d) : null;
      return cache[d];
    } });
    for (var d in st.dom) if (!(st.dom[d] in domOf)) domOf[st.dom[d]] = d;
    for (var opened in st.opens) { var od = domOf[opened]; if (od && nodeEls[od]) nodeEls[od].classList.add("openable"); }
    buildBoxIndex();
    marked = [];
    renderCrumbs();
    highlightMatches();
    if (selected && domOf[selected]) nodeEls[domOf[selected]].classList.add("selected");
    if (!keepView) fit();
    // after the first paint, resolve the elements while the page is idle (faster first search)
    var warm = function () { if (cur === index) for (var k in st.dom) nodeEls[k]; };
    if (window.requestIdleCallback) requestIdleCallback(warm, { timeout: 2000 }); else setTimeout(warm, 200);
  }
  function edgeIndex(st) {
    var adj = Object.create(null);
    for (var eid in st.edges) {
      var ends = st.edges[eid], ge = document.getElementById(eid);
      if (!ge) continue;
      (adj[ends[0]] = adj[ends[0]] || []).push([ge, "hl-out"]);
      (adj[ends[1]] = adj[ends[1]] || []).push([ge, "hl-in"]);
    }
    return adj;
  }
  function rootOf(index) { while (STATES[index].parent !== null && STATES[index].parent !== undefined) index = STATES[index].parent; return index; }
  function renderCrumbs() {
    var nav = $("crumbs"); nav.textContent = "";
    var chain = [], i = cur;
    while (i !== null && i !== undefined) { chain.unshift(i); i = STATES[i].parent; }
    chain.forEach(function (index, k) {
      if (k) nav.appendChild(el("span", " › "));
      var title = STATES[index].title;
      if (index === cur) nav.appendChild(el("span", title, "here"));
      else nav.appendChild(link(title, function () { showState(index); }));
    });
    if (STATES[cur].parent !== null && STATES[cur].parent !== undefined) {
      nav.appendChild(el("span", "   "));
      nav.appendChild(link("close ✕", closeState));
    }
  }
  function closeState() {
    var p = STATES[cur].parent;
    if (p === null || p === undefined) return;
    var from = STATES[cur].path;
    showState(p);
    // bring the box we came out of into view
    for (var d in irOf) {
      var rec = NODES[irOf[d]];
      if (rec && rec.kind === "module" && (rec.module === from || (rec.folded || [])[0] === from)) { zoomTo(d); break; }
    }
  }

  // ---- pan & zoom -------------------------------------------------------
  function apply() { canvas.style.transform = "translate(" + view.x + "px," + view.y + "px) scale(" + view.k + ")"; }
  function size() { return [Number(svg.getAttribute("width")), Number(svg.getAttribute("height"))]; }
  function fit() {
    if (!svg) return;
    var s = size(), W = viewport.clientWidth, H = viewport.clientHeight;
    view.k = Math.min(W / s[0], H / s[1], 1.5) * 0.96;
    view.x = (W - s[0] * view.k) / 2; view.y = Math.max(4, (H - s[1] * view.k) / 2);
    apply();
  }
  function zoomAt(factor, cx, cy) {
    var k = Math.min(8, Math.max(0.01, view.k * factor));
    factor = k / view.k;
    view.x = cx - (cx - view.x) * factor; view.y = cy - (cy - view.y) * factor; view.k = k;
    apply();
  }
  function zoomCenter(f) { zoomAt(f, viewport.clientWidth / 2, viewport.clientHeight / 2); }
  function zoomTo(domId) {
    var e = nodeEls[domId]; if (!e) return;
    var r = e.getBoundingClientRect(), c = canvas.getBoundingClientRect();
    var bx = (r.left - c.left) / view.k, by = (r.top - c.top) / view.k;
    var bw = r.width / view.k, bh = r.height / view.k;
    var W = viewport.clientWidth, H = viewport.clientHeight;
    var k = Math.min(1.4, Math.max(view.k, 0.9), W / (bw * 3), H / (bh * 3));
    view.k = k; view.x = W / 2 - (bx + bw / 2) * k; view.y = H / 2 - (by + bh / 2) * k;
    apply();
  }
  viewport.addEventListener("wheel", function (ev) {
    ev.preventDefault();
    var r = viewport.getBoundingClientRect();
    var f = Math.exp(-ev.deltaY * (ev.ctrlKey ? 0.01 : 0.0015));
    zoomAt(f, ev.clientX - r.left, ev.clientY - r.top);
  }, { passive: false });
  var drag = null;
  viewport.addEventListener("pointerdown", function (ev) {
    if (ev.button !== 0) return;
    drag = { x: ev.clientX, y: ev.clientY, vx: view.x, vy: view.y, moved: false, id: ev.pointerId };
  });
  window.addEventListener("pointermove", function (ev) {
    if (!drag) return;
    var dx = ev.clientX - drag.x, dy = ev.clientY - drag.y;
    if (!drag.moved && Math.abs(dx) + Math.abs(dy) > 4) { drag.moved = true; viewport.classList.add("dragging"); }
    if (drag.moved) { view.x = drag.vx + dx; view.y = drag.vy + dy; apply(); }
  });
  window.addEventListener("pointerup", function () {
    if (drag && drag.moved) { drag.justDragged = true; setTimeout(function () { drag = null; }, 0); }
    else drag = null;
    viewport.classList.remove("dragging");
  });
  // two-finger pinch on touch screens
  var touches = {};
  viewport.addEventListener("touchmove", function (ev) {
    if (ev.touches.length !== 2) return;
    ev.preventDefault();
    var a = ev.touches[0], b = ev.touches[1], d = Math.hypot(a.clientX - b.clientX, a.clientY - b.clientY);
    var r = viewport.getBoundingClientRect();
    if (touches.d) zoomAt(d / touches.d, (a.clientX + b.clientX) / 2 - r.left, (a.clientY + b.clientY) / 2 - r.top);
    touches.d = d;
  }, { passive: false });
  viewport.addEventListener("touchend", function () { touches = {}; });

  // ---- hover & click ----------------------------------------------------
  function nodeTarget(ev) {
    var g = ev.target.closest ? ev.target.closest("g.node") : null;
    return g && irOf[g.id] !== undefined ? g : null;
  }
  var hovered = [];
  viewport.addEventListener("mouseover", function (ev) {
    var g = nodeTarget(ev);
    hovered.forEach(function (p) { p[0].classList.remove(p[1]); }); hovered = [];
    if (!g) return;
    if (!edgeEls) edgeEls = edgeIndex(STATES[cur]);
    (edgeEls[g.id] || []).forEach(function (p) { p[0].classList.add(p[1]); hovered.push(p); });
    var rec = NODES[irOf[g.id]];
    setStatus(rec ? (rec.label || rec.name || irOf[g.id]) + "  ·  " + (rec.op || "") + (rec.module ? "  ·  " + rec.module : "") : "");
  });
  viewport.addEventListener("click", function (ev) {
    if (drag && drag.justDragged) return;
    var g = nodeTarget(ev); if (!g) return;
    var id = irOf[g.id], target = STATES[cur].opens[id];
    if (target !== undefined) {
      var alias = STATES[cur].aliases[id], rec = NODES[id];
      select(id, false); showState(target);
      if (alias) setStatus((rec && rec.module || id) + " has the same structure as " + alias + ": drawn once, as " + alias);
      return;
    }
    select(id, false);
  });

  // ---- selection & panel --------------------------------------------------
  function clearSelected() {
    var old = svg ? svg.querySelectorAll("g.node.selected") : [];
    for (var i = 0; i < old.length; i++) old[i].classList.remove("selected");
  }
  function select(id, zoom) {
    selected = id; clearSelected();
    var d = domOf[id];
    if (d) nodeEls[d].classList.add("selected");
    showPanel(id);
    if (zoom && d) zoomTo(d);
  }
  // navigate to a node: current state if drawn there, else a state of the same family, else any
  function goTo(id) {
    var states = DRAWN[id] || [], target = null, shown = id;
    if (states.indexOf(cur) >= 0) target = cur;
    else {
      var fam = STATES[cur].root;
      for (var i = 0; i < states.length; i++) if (STATES[states[i]].root === fam) { target = states[i]; break; }
      if (target === null && states.length) target = states[0];
    }
    if (target === null && DATA.where[id]) { target = DATA.where[id][0]; shown = DATA.where[id][1]; }
    if (target === null) { select(id, false); setStatus("not drawn in any precomputed view"); return; }
    showState(target, true);
    selected = id; clearSelected();
    showPanel(id, shown !== id ? shown : null);   // first: the panel narrows the drawing
    var d = domOf[shown];
    if (d) { nodeEls[d].classList.add("selected"); zoomTo(d); }
  }
  function row(table, cells, cls) {
    var tr = el("tr"); if (cls) tr.className = cls;
    cells.forEach(function (c) { var td = el("td"); if (c instanceof Node) td.appendChild(c); else td.textContent = c === undefined || c === null ? "" : String(c); tr.appendChild(td); });
    table.appendChild(tr);
  }
  function header(table, cells) { var tr = el("tr"); cells.forEach(function (c) { tr.appendChild(el("th", c)); }); table.appendChild(tr); }
  function value(v) { return typeof v === "string" ? v : JSON.stringify(v); }
  function section(body, title) { body.appendChild(el("h3", title)); }
  function nodeLink(id) {
    var r = NODES[id], text = r ? (r.label || r.name || id) : id;
    return link(text + (r && r.op && r.op !== text ? " (" + r.op + ")" : ""), function () { goTo(id); });
  }
  function showPanel(id, shownAs) {
    var r = NODES[id], body = $("panel-body");
    $("panel").hidden = false; body.textContent = "";
    if (!r) { body.appendChild(el("h2", id)); return; }
    body.appendChild(el("h2", r.label || r.name || id));
    var t = el("table"); body.appendChild(t);
    row(t, ["id", el("span", id, "mono")]);
    if (r.name && r.name !== r.label && r.name !== id) row(t, ["name", r.name]);
    row(t, ["op", r.op + (r.kind && r.kind !== "op" ? "  (" + r.kind + ")" : "")]);
    row(t, ["module", (r.module || "(root)") + (r.module_type ? " : " + r.module_type : "")]);
    if (r.diff) row(t, ["diff", r.diff]);
    ["repeat", "children", "total_params", "own_params", "subtree_params", "elided"].forEach(function (k) {
      if (r[k] !== undefined) row(t, [k === "children" ? "ops inside" : k.replace("_", " "), value(r[k])]);
    });
    if (r.folded) row(t, ["folded copies", r.folded.join(", ")]);
    if (r.weight_change !== undefined) row(t, ["weight change", value(r.weight_change)]);
    if (shownAs) body.appendChild(el("p", "Not drawn in the precomputed views; highlighted: " + ((NODES[shownAs] || {}).label || shownAs) + " (" + shownAs + "), which stands for it.", "note"));
    var target = cur >= 0 ? STATES[cur].opens[id] : undefined;
    if (target === undefined) { for (var s = 0; s < STATES.length; s++) if (STATES[s].opens[id] !== undefined) { target = STATES[s].opens[id]; break; } }
    if (r.kind === "module" && !r.child_modules) {
      if (target !== undefined) {
        var b = el("button", "Open inside ▸", "open");
        b.addEventListener("click", function () { showState(target); });
        body.appendChild(b);
      } else {
        var lo = leftOut.filter(function (x) { return (r.folded || [r.module]).indexOf(x.path) >= 0; })[0];
        if (lo) { body.appendChild(el("p", "Inside not precomputed (file-size budget); draw it with:", "note")); body.appendChild(el("div", lo.command, "mono")); }
      }
    }
    if (r.changes && Object.keys(r.changes).length) {
      section(body, "Changes (" + DATA.diff.oldName + " → " + DATA.diff.newName + ")");
      var ct = el("table"); body.appendChild(ct); header(ct, ["what", "old", "new"]);
      Object.keys(r.changes).forEach(function (k) {
        var v = r.changes[k];
        if (Array.isArray(v) && v.length === 2) row(ct, [k, value(v[0]), value(v[1])]);
        else if (v && typeof v === "object") Object.keys(v).forEach(function (sub) {
          var p = v[sub]; row(ct, [k + " " + sub, value(Array.isArray(p) ? p[0] : p), value(Array.isArray(p) ? p[1] : "")]);
        });
      });
    }
    if (r.outputs) {
      section(body, "Outputs");
      var ot = el("table"); body.appendChild(ot);
      header(ot, r.old ? ["#", DATA.diff.oldName, DATA.diff.newName] : ["#", "shape", "dtype"]);
      r.outputs.forEach(function (o, k) {
        if (!r.old) { row(ot, [k, o.shape, o.dtype]); return; }
        var old = r.old.outputs && r.old.outputs[k], was = old ? old.shape + " " + old.dtype : "—";
        row(ot, [k, was, o.shape + " " + o.dtype], was !== o.shape + " " + o.dtype ? "new" : null);
      });
    }
    if (r.in && r.in.length) {
      section(body, "Inputs (producers)");
      var it = el("table"); body.appendChild(it);
      r.in.forEach(function (e) {
        var src = NODES[e[0]], port = Number((e[1].match(/out (\d+)/) || [0, 0])[1]);
        var shape = src && src.outputs && src.outputs[port] ? src.outputs[port].shape + " " + src.outputs[port].dtype : "";
        row(it, [nodeLink(e[0]), shape, e[1]]);
      });
    }
    if (r.out && r.out.length) {
      section(body, "Consumers");
      var ut = el("table"); body.appendChild(ut);
      r.out.forEach(function (e) { row(ut, [nodeLink(e[0]), e[1]]); });
    }
    if (r.params) {
      section(body, "Parameters");
      var pt = el("table"); pt.className = "params"; body.appendChild(pt); header(pt, ["name", "shape", "dtype", "count"]);
      r.params.forEach(function (p) { row(pt, [p.name + (p.note ? " (" + p.note + ")" : ""), p.shape, p.dtype, p.count]); });
      if (r.old && r.old.params) {
        section(body, "Parameters in " + DATA.diff.oldName);
        var po = el("table"); po.className = "params"; body.appendChild(po); header(po, ["name", "shape", "dtype", "count"]);
        r.old.params.forEach(function (p) { row(po, [p.name, p.shape, p.dtype, p.count], "old"); });
      }
    }
    if (r.attrs) {
      section(body, "Attributes");
      var at = el("table"); body.appendChild(at);
      if (r.old) header(at, ["name", DATA.diff.oldName, DATA.diff.newName]);
      Object.keys(r.attrs).sort().forEach(function (k) {
        if (!r.old) { row(at, [k, value(r.attrs[k])]); return; }
        var old = r.old.attrs ? r.old.attrs[k] : undefined, now = value(r.attrs[k]);
        old = old === undefined ? "—" : value(old);
        row(at, [k, old, now], old !== now ? "new" : null);
      });
    }
    if (r.input_shapes) { section(body, "Input shapes"); body.appendChild(el("div", value(r.input_shapes), "mono")); }
    if (r.stats) {
      section(body, "Activation statistics");
      var stt = el("table"); body.appendChild(stt);
      Object.keys(r.stats).forEach(function (k) { row(stt, [k, value(r.stats[k])]); });
    }
    if (r.tensor_names) { section(body, "ONNX tensor names"); body.appendChild(el("div", value(r.tensor_names), "mono")); }
  }
  $("panel-close").addEventListener("click", function () { $("panel").hidden = true; clearSelected(); selected = null; });

  // ---- search -----------------------------------------------------------
  function boxFor(id) {
    // the module box of the current state holding a node it does not draw
    var r = NODES[id]; if (!r || !r.module) return null;
    var parts = r.module.split(".");
    for (var n = parts.length; n > 0; n--) {
      var p = parts.slice(0, n).join("."), d = boxIndex[p];
      if (d) return d;
    }
    return null;
  }
  var boxIndex = {};
  function buildBoxIndex() {
    boxIndex = Object.create(null);
    for (var d in irOf) {
      var r = NODES[irOf[d]];
      if (r && r.kind === "module") (r.folded || [r.module]).forEach(function (p) { if (p && !boxIndex[p]) boxIndex[p] = d; });
    }
  }
  var marked = [];
  function highlightMatches() {
    if (!svg) return;
    for (var i = 0; i < marked.length; i++) marked[i].classList.remove("match", "current");
    marked = [];
    for (var m = 0; m < matches.length; m++) {
      var d = domOf[matches[m]] || boxFor(matches[m]);
      if (d && !nodeEls[d].__m) { nodeEls[d].__m = 1; nodeEls[d].classList.add("match"); marked.push(nodeEls[d]); }
    }
    for (var j = 0; j < marked.length; j++) marked[j].__m = 0;
  }
  function search(q) {
    var t0 = performance.now();
    q = q.trim().toLowerCase(); matches = []; matchIndex = -1;
    if (q) for (var i = 0; i < HAY.length; i++) if (HAY[i].indexOf(q) >= 0) matches.push(ORDER[i]);
    window.__graphirLastMatchMs = performance.now() - t0;
    highlightMatches();
    window.__graphirLastSearchMs = performance.now() - t0;
    $("search-count").textContent = q ? (matches.length ? matches.length + " found" : "none") : "";
    return matches.length;
  }
  function step(delta) {
    if (!matches.length) return;
    matchIndex = (matchIndex + delta + matches.length) % matches.length;
    var id = matches[matchIndex];
    goTo(id);
    highlightMatches();
    var d = domOf[id] || (DATA.where[id] ? domOf[DATA.where[id][1]] : null) || boxFor(id);
    if (d) { nodeEls[d].classList.add("current"); marked.push(nodeEls[d]); }
    $("search-count").textContent = (matchIndex + 1) + " / " + matches.length;
  }
  var searchTimer = null;
  $("search").addEventListener("input", function () {
    clearTimeout(searchTimer);
    var q = this.value; searchTimer = setTimeout(function () { search(q); }, 60);
  });
  $("search").addEventListener("keydown", function (ev) {
    if (ev.key === "Enter") { ev.preventDefault(); clearTimeout(searchTimer); if (matchIndex < 0) search(this.value); step(ev.shiftKey ? -1 : 1); }
    else if (ev.key === "Escape") { this.value = ""; search(""); this.blur(); }
  });
  $("next-match").addEventListener("click", function () { step(1); });
  $("prev-match").addEventListener("click", function () { step(-1); });

  // ---- buttons & keys -----------------------------------------------------
  $("zoom-in").addEventListener("click", function () { zoomCenter(1.25); });
  $("zoom-out").addEventListener("click", function () { zoomCenter(0.8); });
  $("fit").addEventListener("click", fit);
  function toggleHelp(show) { $("help").hidden = show === undefined ? !$("help").hidden : !show; }
  $("help-button").addEventListener("click", function () { toggleHelp(); });
  $("help-close").addEventListener("click", function () { toggleHelp(false); });
  document.addEventListener("keydown", function (ev) {
    var tag = (ev.target.tagName || "").toLowerCase();
    if (tag === "input" || tag === "select" || tag === "textarea") return;
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    var k = ev.key;
    if (k === "/") { ev.preventDefault(); $("search").focus(); $("search").select(); }
    else if (k === "?") toggleHelp();
    else if (k === "+" || k === "=") zoomCenter(1.25);
    else if (k === "-" || k === "_") zoomCenter(0.8);
    else if (k === "0" || k === "f") fit();
    else if (k === "z" && selected && domOf[selected]) zoomTo(domOf[selected]);
    else if (k === "u" || k === "Backspace") { ev.preventDefault(); closeState(); }
    else if (k === "c" && DATA.kind === "diff") { $("context-on").click(); }
    else if (k === "n") step(1);
    else if (k === "N") step(-1);
    else if (k === "Escape") { toggleHelp(false); $("panel").hidden = true; clearSelected(); selected = null; }
    else if (k.indexOf("Arrow") === 0) {
      var s = 60; view.x += k === "ArrowLeft" ? s : k === "ArrowRight" ? -s : 0;
      view.y += k === "ArrowUp" ? s : k === "ArrowDown" ? -s : 0; apply(); ev.preventDefault();
    } else return;
  });

  // ---- diff -------------------------------------------------------------
  if (DATA.kind === "diff") {
    var diff = DATA.diff, fills = DATA.diffFills || {};
    $("diffbar").hidden = false; $("changes").hidden = false;
    ["added", "removed", "changed", "same"].forEach(function (k) {
      if (diff.counts[k] === undefined) return;
      var s = el("span"); s.appendChild(el("strong", diff.counts[k])); s.appendChild(document.createTextNode(" " + k));
      $("diff-counts").appendChild(s);
      var l = el("span"), sw = el("span", null, "swatch"); sw.style.background = fills[k] || "#fff";
      if (k === "removed") sw.style.borderStyle = "dashed";
      if (k === "changed") sw.style.borderWidth = "2px";
      l.appendChild(sw); l.appendChild(document.createTextNode(k)); $("diff-legend").appendChild(l);
    });
    var hops = Object.keys(diff.context || {});
    if (!hops.length) $("context-toggle").hidden = true;
    hops.forEach(function (h) { var o = el("option", h); o.value = h; $("context-hops").appendChild(o); });
    function contextState() { return $("context-on").checked ? diff.context[$("context-hops").value] : 0; }
    function switchContext() {
      showState(contextState());
      if (selected && domOf[selected]) zoomTo(domOf[selected]);
    }
    $("context-on").addEventListener("change", switchContext);
    $("context-hops").addEventListener("change", function () { if ($("context-on").checked) switchContext(); });
    var list = $("change-list");
    if (!diff.groups.length) list.appendChild(el("p", "No differences."));
    diff.groups.forEach(function (g) {
      var box = el("details", null, "group");
      box.open = !g.whole && g.entries.length <= 8;
      var sum = el("summary", null, "group-title");
      sum.appendChild(el("span", (g.module || "(root)") + (g.type ? " : " + g.type : "")));
      var counts = {};
      g.entries.forEach(function (e) { counts[e.state] = (counts[e.state] || 0) + 1; });
      var words = Object.keys(counts).map(function (k) { return counts[k] + " " + k; }).join(", ");
      sum.appendChild(el("span", g.whole ? "  — whole module " + g.whole + " (" + g.entries.length + " nodes)" : "  — " + words, "what"));
      var jump = link("  show ↦", function () { goTo(g.entries[0].id); });
      jump.className = "jump"; sum.appendChild(jump);
      box.appendChild(sum);
      g.entries.forEach(function (e) {
        var a = el("a", null, "change"); a.href = "#"; a.setAttribute("data-node", e.id);
        a.style.borderLeftColor = fills[e.state] || "#ccc";
        a.appendChild(el("span", (e.state === "added" ? "+ " : e.state === "removed" ? "− " : "~ ") + e.label + (e.op && e.op !== e.label ? " (" + e.op + ")" : "")));
        if (e.where) a.appendChild(el("span", "  " + e.where, "where"));
        if (e.text) a.appendChild(el("span", e.text, "what"));
        a.addEventListener("click", function (ev) { ev.preventDefault(); goTo(e.id); });
        box.appendChild(a);
      });
      list.appendChild(box);
    });
  }

  window.addEventListener("resize", function () { if (svg) apply(); });
  // test hooks (read-only views of the state)
  window.graphir = {
    view: function () { return { x: view.x, y: view.y, k: view.k }; },
    state: function () { return cur; }, selected: function () { return selected; },
    search: search, goTo: goTo, showState: showState
  };
  showState(0);
  window.__graphirReady = true;
})();
