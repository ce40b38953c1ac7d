// looped view: steps through a recorded run of the looped transformer (data: #data, written by
// looped/view/page.py). The state after step K is the start state with records 1..K applied; each
// record holds only what its instruction changed, and going back undoes what going forward saved.
"use strict";
(function () {
  const D = JSON.parse(document.getElementById("data").textContent);
  const n = D.layout.n, d = D.layout.d, first = D.first, total = D.steps;
  const $ = (id) => document.getElementById(id);

  // ---- the state at the current step -------------------------------------------------------------
  const card = Float64Array.from(D.start.card);  // token-major: card[t * d + row]
  const memory = Object.assign({}, D.start.memory);
  const outputs = [D.start.output];  // output text after first + i
  for (const r of D.records) outputs.push(outputs[outputs.length - 1] + (r.o || ""));
  const undo = new Array(D.records.length);
  let at = first;

  function pcAt(k) { return k === first ? D.start.pc : D.records[k - first - 1].pc; }

  function forward() {  // apply record at + 1
    const i = at - first, r = D.records[i];
    if (!undo[i]) {
      const x = [], m = {};
      for (let j = 0; j < r.x.length; j += 2) x.push(r.x[j], card[r.x[j]]);
      for (const label in r.m) m[label] = memory[label];
      undo[i] = { x: x, m: m };
    }
    for (let j = 0; j < r.x.length; j += 2) card[r.x[j]] = r.x[j + 1];
    Object.assign(memory, r.m);
    at += 1;
  }

  function backward() {  // undo record at
    const u = undo[at - first - 1];
    for (let j = u.x.length - 2; j >= 0; j -= 2) card[u.x[j]] = u.x[j + 1];
    Object.assign(memory, u.m);
    at -= 1;
  }

  function clamp(k) { return Math.max(first, Math.min(total, k)); }

  // ---- colours --------------------------------------------------------------------------------------
  const R = D.scale;
  const span = Math.log1p(R);
  function position(v) { return Math.sign(v) * Math.log1p(Math.min(Math.abs(v), R)) / span; }  // [-1, 1]
  const NEG = [49, 92, 189], MID = [247, 247, 247], POS = [193, 39, 45];
  function colour(v) {
    const p = position(v), end = p < 0 ? NEG : POS, a = Math.abs(p);
    return [0, 1, 2].map((c) => Math.round(MID[c] + (end[c] - MID[c]) * a));
  }
  const LAYER_COLOURS = ["#0a8f3c", "#7b3fd1", "#d17a00", "#0077b6", "#c2185b", "#5d4037", "#00897b"];
  const layers = [...new Set(D.heads.map((h) => h.layer))];
  function headColour(h) { return LAYER_COLOURS[layers.indexOf(D.heads[h].layer) % LAYER_COLOURS.length]; }

  // ---- the card's picture ---------------------------------------------------------------------------
  // Rows that are zero in every state shown (scratch rows, cleared by each instruction before it
  // ends) are hidden unless "every row" is ticked; `shown` lists the feature rows drawn, in order.
  const canvas = $("card"), ctx = canvas.getContext("2d");
  const cw = Math.max(2, Math.min(16, Math.floor(820 / n)));
  let shown, ch, blocks, rowLabels, LEFT, TOP, pixels, pctx, image;
  const BOTTOM = 10;

  function layoutCard(everyRow) {
    const live = new Set(D.live_rows);
    shown = [];
    for (let r = 0; r < d; r++) if (everyRow || live.has(r)) shown.push(r);
    if (!shown.length) shown.push(0);
    const at = new Map(shown.map((r, i) => [r, i]));
    blocks = [];  // [name, first shown row, end shown row, feature start, feature stop]
    for (const [name, a, b] of D.layout.rows) {
      const rows = [];
      for (let r = a; r < b; r++) if (at.has(r)) rows.push(at.get(r));
      if (rows.length) blocks.push([name, rows[0], rows[rows.length - 1] + 1, a, b]);
    }
    ch = Math.max(2, Math.min(8, Math.floor(640 / shown.length)));
    rowLabels = placeRowLabels();
    LEFT = 12 + 78 * rowLabels.columns; TOP = cw >= 11 ? 92 : 34;
    canvas.width = LEFT + n * cw + 6;
    canvas.height = TOP + shown.length * ch + BOTTOM;
    $("card-panel").style.width = Math.max(canvas.width + 24, 460) + "px";
    pixels = document.createElement("canvas");
    pixels.width = n; pixels.height = shown.length;
    pctx = pixels.getContext("2d");
    image = pctx.createImageData(n, shown.length);
    const hidden = D.layout.rows.filter((b) => !blocks.some((x) => x[0] === b[0])).map((b) => b[0]);
    $("hidden-rows").textContent = hidden.length ? `Hidden (zero in every state shown: scratch rows that each instruction clears before it ends): ${hidden.join(", ")}.` : "";
  }

  function placeRowLabels() {  // block names in up to two columns, none overlapping
    const placed = [], last = [-1e9, -1e9];
    for (const [name, a, b, fa, fb] of blocks) {
      const y = ((a + b) / 2) * ch;
      const col = y - last[0] >= 11 ? 0 : y - last[1] >= 11 ? 1 : -1;
      if (col >= 0) { last[col] = y; placed.push([name, a, b, col, fb - fa]); }
    }
    return { placed: placed, columns: placed.some((p) => p[3] === 1) ? 2 : 1 };
  }

  function drawCard() {
    const px = image.data, rows = shown.length;
    for (let t = 0; t < n; t++) {
      for (let i = 0; i < rows; i++) {
        const c = colour(card[t * d + shown[i]]), o = (i * n + t) * 4;
        px[o] = c[0]; px[o + 1] = c[1]; px[o + 2] = c[2]; px[o + 3] = 255;
      }
    }
    const H = rows * ch;
    pctx.putImageData(image, 0, 0);
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(pixels, LEFT, TOP, n * cw, H);
    ctx.font = "11px system-ui, sans-serif";
    ctx.textBaseline = "middle";
    // row blocks: boundaries and names
    ctx.strokeStyle = "rgba(40, 48, 64, 0.35)"; ctx.lineWidth = 1;
    for (const [, a] of blocks) {
      if (a === 0) continue;
      ctx.beginPath(); ctx.moveTo(LEFT - 4, TOP + a * ch + 0.5); ctx.lineTo(LEFT + n * cw, TOP + a * ch + 0.5); ctx.stroke();
    }
    ctx.fillStyle = "#1d2330"; ctx.textAlign = "right";
    for (const [name, a, b, col, size] of rowLabels.placed) {
      const y = TOP + ((a + b) / 2) * ch, x = LEFT - 6 - (rowLabels.columns - 1 - col) * 78;
      ctx.fillText((b - a) * ch >= 6 ? name : name + " \u2500", x, y);
    }
    // column zones: boundaries and names
    ctx.textAlign = "center"; ctx.textBaseline = "alphabetic";
    ctx.strokeStyle = "rgba(20, 24, 32, 0.8)";
    for (const [name, a, b] of D.layout.zones) {
      const x0 = LEFT + a * cw, x1 = LEFT + b * cw;
      ctx.beginPath(); ctx.moveTo(x0 + 0.5, TOP - 16); ctx.lineTo(x0 + 0.5, TOP + H); ctx.stroke();
      const label = ctx.measureText(name).width < x1 - x0 - 2 ? name : (x1 - x0 > 14 ? name[0] : "");
      ctx.font = "bold 11px system-ui, sans-serif";
      ctx.fillText(label, (x0 + x1) / 2, TOP - (cw >= 11 ? 80 : 20));
      ctx.font = "11px system-ui, sans-serif";
    }
    if (cw >= 11) {  // every column's name, turned
      ctx.save(); ctx.textAlign = "left"; ctx.textBaseline = "middle"; ctx.font = "10px system-ui, sans-serif";
      for (let t = 0; t < n; t++) {
        ctx.save(); ctx.translate(LEFT + t * cw + cw / 2, TOP - 6); ctx.rotate(-Math.PI / 3);
        ctx.fillStyle = "#3a4252"; ctx.fillText(D.columns[t].slice(0, 14), 0, 0); ctx.restore();
      }
      ctx.restore();
    }
    drawMarks();
  }

  function looksAt(k) { return k > first ? D.records[k - first - 1].h : []; }

  function drawMarks() {  // the columns the last instruction's heads attended to, and the pc
    // Heads that look inside the scratchpad (FLEQ's function blocks) compute there: the marks show
    // the columns of the card the heads read or write.
    const scratch = D.layout.zones.filter((z) => ["scratch", "slots", "anchor"].includes(z[0]));
    const inScratch = (col) => scratch.some((z) => z[1] <= col && col < z[2]);
    const H = shown.length * ch;
    const strong = looksAt(at).filter((l) => l[3] >= 0.5 && !inScratch(l[2]));
    const seen = {};
    for (const [h, , col] of strong) {
      const key = col + ":" + D.heads[h].layer;
      if (seen[key]) continue;
      seen[key] = true;
      ctx.strokeStyle = headColour(h); ctx.lineWidth = 2;
      const inset = 1 + (layers.indexOf(D.heads[h].layer) % 3);
      ctx.strokeRect(LEFT + col * cw + inset - 0.5, TOP + inset - 0.5, Math.max(1, cw - 2 * inset + 1), H - 2 * inset + 1);
    }
    const pcColumn = pcToken(pcAt(at));
    if (pcColumn !== null) {
      ctx.fillStyle = "#1d2330";
      const x = LEFT + pcColumn * cw + cw / 2;
      ctx.beginPath(); ctx.moveTo(x - 5, TOP + H + 9); ctx.lineTo(x + 5, TOP + H + 9); ctx.lineTo(x, TOP + H + 1); ctx.fill();
    }
  }

  function zone(name) { return D.layout.zones.find((z) => z[0] === name); }
  function pcToken(pc) {  // the column of the next instruction (tapes: of cell IP)
    const z = zone(D.machine === "tape" ? "memory" : "code");
    const t = z ? z[1] + Math.floor(pc / (D.machine === "tape" ? D.cells_per_token : 1)) : -1;
    return z && pc >= 0 && t < z[2] ? t : null;
  }

  canvas.addEventListener("mousemove", (e) => {
    const box = canvas.getBoundingClientRect();
    const x = e.clientX - box.left, y = e.clientY - box.top;
    const t = Math.floor((x - LEFT) / cw), i = Math.floor((y - TOP) / ch);
    const tip = $("tip");
    if (t < 0 || t >= n || i < 0 || i >= shown.length) { tip.hidden = true; return; }
    const r = shown[i];
    const block = D.layout.rows.find((b) => b[1] <= r && r < b[2]);
    const z = D.layout.zones.find((q) => q[1] <= t && t < q[2]);
    tip.textContent = `column ${t} (${z ? z[0] : ""}: ${D.columns[t]}) \u00b7 row ${r} (${block ? block[0] + (block[2] - block[1] > 1 ? "[" + (r - block[1]) + "]" : "") : ""}) = ${card[t * d + r]}`;
    tip.style.left = (x + 14) + "px"; tip.style.top = (y + 10) + "px"; tip.hidden = false;
  });
  canvas.addEventListener("mouseleave", () => { $("tip").hidden = true; });

  function buildLegend() {
    const legend = $("legend");
    const scale = document.createElement("canvas");
    scale.width = 260; scale.height = 34;
    const s = scale.getContext("2d");
    for (let i = 0; i < 200; i++) {
      const p = (i / 199) * 2 - 1;  // position in [-1, 1]
      const v = Math.sign(p) * Math.expm1(Math.abs(p) * span);
      const c = colour(v);
      s.fillStyle = `rgb(${c[0]},${c[1]},${c[2]})`; s.fillRect(30 + i, 2, 1, 14);
    }
    s.strokeStyle = "#888"; s.strokeRect(29.5, 1.5, 201, 15);
    s.fillStyle = "#1d2330"; s.font = "10px system-ui, sans-serif"; s.textAlign = "center";
    const ticks = R > 1.5 ? [-R, -1, 0, 1, R] : [-1, 0, 1];
    for (const v of ticks) {
      const x = 30 + (position(v) + 1) / 2 * 199;
      s.fillRect(x, 16, 1, 4);
      s.fillText(Math.abs(v) >= 1000 ? v.toExponential(0) : String(+v.toPrecision(3)), x, 30);
    }
    const item = (html) => { const span = document.createElement("span"); span.className = "item"; span.innerHTML = html; legend.appendChild(span); };
    const label = document.createElement("span"); label.className = "item";
    label.appendChild(document.createTextNode("value"));
    label.appendChild(scale);
    legend.appendChild(label);
    item(R > 1.5 ? "(linear within \u00b11, logarithmic beyond; addresses and flags are \u00b11 codes)" : "(\u00b11: a bit; 0: empty)");
    item("column zones: " + D.layout.zones.map((z) => `${z[0]} ${z[1]}${z[2] - z[1] > 1 ? "\u2013" + (z[2] - 1) : ""}`).join(", "));
    for (const name of layers) {
      const h = D.heads.findIndex((x) => x.layer === name);
      item(`<span class="swatch" style="border-color:${headColour(h)}"></span>column attended by the ${name} layer's heads (weight \u2265 0.5)`);
    }
    item("\u25b2 next instruction's column" + (D.machine === "tape" ? " (cell IP)" : ""));
    item("hover for a cell's value");
  }

  // ---- the program listing, heads, memory and output --------------------------------------------------
  const listing = $("listing");
  const lineDivs = D.listing.map((text, i) => {
    const div = document.createElement("div");
    div.dataset.n = i + 1; div.textContent = text || " ";
    listing.appendChild(div);
    return div;
  });

  function lineOf(pc) { return pc >= 0 && pc < D.lines.length ? D.lines[pc] : null; }

  function instructionText(pc) {
    if (D.machine === "tape") {
      const m = (k) => memory[String(k)];
      const line = lineOf(pc);  // a C program's source line (a tape's line is the listing's highlight)
      const where = D.language === "c" && line && D.listing[line - 1] ? `  (line ${line}: ${D.listing[line - 1].trim()})` : "";
      return (pc >= 0 && memory[String(pc + 2)] !== undefined ? `IP ${pc}: subleq ${m(pc)} ${m(pc + 1)} ${m(pc + 2)}` : `IP ${pc}`) + where;
    }
    const line = lineOf(pc);
    return line ? `code ${pc}: ${D.listing[line - 1].trim()}` : `code ${pc}`;
  }

  function showListing() {
    for (const div of lineDivs) div.className = "";
    const ran = at > first ? lineOf(pcAt(at - 1)) : null, next = lineOf(pcAt(at));
    if (ran) lineDivs[ran - 1].classList.add("ran");
    if (next && !(D.status !== "step_limit" && at === total)) lineDivs[next - 1].classList.add("next");
    const target = next || ran;
    if (target) {
      const div = lineDivs[target - 1];
      if (div.offsetTop < listing.scrollTop || div.offsetTop > listing.scrollTop + listing.clientHeight - 20)
        listing.scrollTop = div.offsetTop - listing.clientHeight / 3;
    }
    const box = $("instruction");
    box.textContent = "";
    const add = (cls, tag, text) => {
      const p = document.createElement("div");
      const t = document.createElement("span"); t.className = "tag " + cls; t.textContent = tag;
      p.appendChild(t); p.appendChild(document.createTextNode(text)); box.appendChild(p);
    };
    if (at > first) add("ran", "ran", instructionText(pcAt(at - 1)));
    if (at === total && D.status !== "step_limit") add("", D.status, D.message || "");
    else add("next", "next", instructionText(pcAt(at)));
  }

  const headRows = D.heads.map((h, i) => {
    const tr = document.createElement("tr");
    tr.innerHTML = `<td><span class="dot" style="background:${headColour(i)}"></span></td><td></td><td class="looks"></td>`;
    tr.children[0].appendChild(document.createTextNode(h.layer));
    tr.children[1].textContent = h.name + (h.mode === "write" ? " (writes)" : "");
    $("heads").tBodies[0].appendChild(tr);
    return tr;
  });

  function showHeads() {
    const byHead = D.heads.map(() => []);
    for (const [h, s, col, w] of looksAt(at)) {
      const from = D.columns[s];
      byHead[h].push(D.heads[h].mode === "write" ? `${D.columns[col]} \u2190 ${from} (${w.toFixed(2)})` : `${from} \u2192 ${D.columns[col]} (${w.toFixed(2)})`);
    }
    headRows.forEach((tr, h) => {
      const looks = byHead[h], more = looks.length > 4 ? `  \u2026 and ${looks.length - 4} more` : "";
      tr.children[2].textContent = looks.slice(0, 4).join(",  ") + more || (at > first ? "\u2014" : "");
    });
  }

  const memoryRows = {};
  for (const label of Object.keys(D.start.memory)) {
    const tr = document.createElement("tr");
    tr.dataset.cell = label;
    const name = document.createElement("td"); name.textContent = label;
    const cell = document.createElement("td");
    const value = document.createElement("span"); value.className = "value";
    cell.appendChild(value);
    tr.appendChild(name); tr.appendChild(cell);
    $("memory").tBodies[0].appendChild(tr);
    memoryRows[label] = { tr: tr, value: value, cell: cell, shown: undefined };
  }

  function number(v) { return typeof v === "number" ? +v.toPrecision(7) : v; }
  function grid(value) {  // a vector as a column, a matrix as rows
    const table = document.createElement("table"); table.className = "grid";
    const rows = Array.isArray(value[0]) ? value : value.map((v) => [v]);
    for (const row of rows) {
      const tr = table.insertRow();
      for (const v of row) tr.insertCell().textContent = number(v);
    }
    return table;
  }

  function showMemory() {
    const changed = at > first ? D.records[at - first - 1].m : {};
    for (const label in memoryRows) {
      const row = memoryRows[label], text = JSON.stringify(memory[label]);
      if (row.shown !== text) {
        row.value.textContent = text;
        row.shown = text;
        const old = row.cell.querySelector("table.grid");
        if (old) old.remove();
        if (D.machine === "fleq" && Array.isArray(memory[label])) {
          row.value.classList.add("as-grid");
          row.cell.appendChild(grid(memory[label]));
        }
      }
      row.tr.classList.toggle("changed", label in changed);
    }
  }

  // ---- stepping ------------------------------------------------------------------------------------
  function show() {
    $("step").textContent = String(at);
    for (const el of document.querySelectorAll(".at-step")) el.textContent = String(at);
    $("slider").value = String(at);
    if (D.machine === "tape") $("output").textContent = outputs[at - first];
    drawCard(); showListing(); showHeads(); showMemory();
  }

  function go(k, updateHash) {
    k = clamp(k);
    while (at < k) forward();
    while (at > k) backward();
    show();
    if (updateHash !== false) history.replaceState(null, "", "#step=" + at);
  }

  function fromHash() {
    const m = /step=(\d+)/.exec(location.hash);
    return m ? parseInt(m[1], 10) : first;
  }

  let timer = null;
  function play(on) {
    if (timer) { clearInterval(timer); timer = null; }
    if (on && at >= total) go(first);
    if (on) timer = setInterval(() => { if (at >= total) play(false); else go(at + 1); }, 1000 / parseFloat($("speed").value));
    $("play").innerHTML = timer ? "&#x23F8; pause" : "&#x25B6; play";
  }

  $("first").onclick = () => { play(false); go(first); };
  $("back").onclick = () => { play(false); go(at - 1); };
  $("forward").onclick = () => { play(false); go(at + 1); };
  $("last").onclick = () => { play(false); go(total); };
  $("play").onclick = () => play(!timer);
  $("speed").onchange = () => { if (timer) play(true); };
  $("slider").oninput = () => go(parseInt($("slider").value, 10));
  document.addEventListener("keydown", (e) => {
    if (e.target.tagName === "INPUT" && e.target.type !== "range" || e.target.tagName === "SELECT") return;
    if (e.key === "ArrowRight") { play(false); go(at + 1); e.preventDefault(); }
    else if (e.key === "ArrowLeft") { play(false); go(at - 1); e.preventDefault(); }
    else if (e.key === " ") { play(!timer); e.preventDefault(); }
    else if (e.key === "Home") { play(false); go(first); e.preventDefault(); }
    else if (e.key === "End") { play(false); go(total); e.preventDefault(); }
  });
  window.addEventListener("hashchange", () => go(fromHash(), false));

  // ---- header ----------------------------------------------------------------------------------------
  const machineName = D.language === "c" ? "C compiled to a classic SUBLEQ tape" : { subleq: "SUBLEQ", fleq: "FLEQ", tape: "classic SUBLEQ tape" }[D.machine];
  $("title").textContent = `${D.file} on the looped transformer (${machineName})`;
  const how = { halted: "halted after", step_limit: "stopped at the step limit after", fault: "stopped by a fault (the last one) after" }[D.status];
  $("status").textContent = `${how} ${total} instruction${total === 1 ? "" : "s"}; every state shown was computed by the transformer's layers ` +
    `(card ${n} tokens \u00d7 ${d} features, ${D.heads.length} attention heads).` + (D.message ? " " + D.message : "");
  if (first > 0) {
    const note = $("window-note");
    note.hidden = false;
    note.textContent = `This run is longer than the page keeps: it shows the last ${total - first} steps (${first} to ${total}); ` +
      `steps before ${first} are not stored. Record fewer steps (--max-steps) or a larger --window to see them.`;
  }
  $("output-panel").hidden = D.machine !== "tape";
  $("total").textContent = String(total);
  $("slider").min = String(first); $("slider").max = String(total);
  layoutCard(false);
  $("every-row").onchange = () => { layoutCard($("every-row").checked); drawCard(); };
  buildLegend();
  go(fromHash(), fromHash() !== clamp(fromHash()));
})();
