// DRPO inspector: plain JS over the JSON API next to this page (api/...).
"use strict";
const state = { runId: null, view: null, graphs: null, tab: "run", drawn: "", open: new Set() };
const $ = (id) => document.getElementById(id);
const esc = (s) => String(s ?? "").replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);
const fmt = (x) => (typeof x === "number" ? x.toFixed(2) : "-");

// The server's token comes in the page's URL (?token=..., printed by `drpo ui`); it is kept for
// this tab and taken out of the address bar. Every API call sends it.
const token = (() => {
  const url = new URL(location.href);
  const given = url.searchParams.get("token");
  if (given) {
    sessionStorage.setItem("drpo-token", given);
    url.searchParams.delete("token");
    history.replaceState(null, "", url.pathname + url.search + url.hash);
  }
  return given || sessionStorage.getItem("drpo-token") || "";
})();

async function api(path, body) {
  const headers = { "x-drpo-token": token };
  const opts = body === undefined ? { headers } : { method: "POST", headers: { ...headers, "content-type": "application/json" }, body: JSON.stringify(body) };
  const res = await fetch("api/" + path, opts);
  const data = await res.json();
  if (!res.ok) throw new Error(data.error || res.statusText);
  return data;
}

async function loadRuns() {
  const runs = await api("runs");
  const list = $("run-list");
  list.innerHTML = runs.length ? "" : '<li class="muted">no runs yet</li>';
  for (const r of runs) {
    const li = document.createElement("li");
    li.dataset.run = r.run_id;
    li.className = r.run_id === state.runId ? "selected" : "";
    li.innerHTML = r.error ? `${esc(r.run_id)}<small class="error">${esc(r.error)}</small>`
      : `${esc(r.run_id)}<small><span class="badge ${esc(r.status)}">${esc(r.status)}</span> ${esc(r.stage ?? "")}${r.level != null ? " L" + r.level : ""} · best ${fmt(r.best_reward)}</small>`;
    li.onclick = () => selectRun(r.run_id);
    list.appendChild(li);
  }
  $("updated").textContent = "updated " + new Date().toLocaleTimeString();
}

async function selectRun(id) {
  state.runId = id;
  state.drawn = "";
  state.tab = null;
  document.querySelectorAll("#run-list li").forEach((li) => li.classList.toggle("selected", li.dataset.run === id));
  await refresh();
}

async function refresh() {
  if (!state.runId) return;
  const v = await api("runs/" + encodeURIComponent(state.runId));
  state.view = v;
  $("empty").hidden = true;
  $("run").hidden = false;
  $("run-title").textContent = v.run_id;
  const status = $("run-status");
  status.textContent = v.status;
  status.className = "badge " + v.status;
  $("stop").hidden = v.status === "finished" || v.status === "not started";
  $("run-error").hidden = !v.error;
  $("run-error").textContent = v.error || "";
  const ctx = v.context || {};
  const facts = {
    stage: v.stage ?? "-", "last finished level": v.level ?? "-", "best reward": fmt(v.best_reward),
    "LLM calls": Object.entries(v.calls).map(([k, n]) => `${k} ${n}`).join(", ") || "-",
    models: ["base", "optimizer", "judge", "selector"].map((r) => `${r} ${ctx[r + "_model"] ?? "?"}`).join(" · "),
    "judge node": ctx.judge_node ?? "-", "approval gate": ctx.approve ? "on" : "off",
  };
  const phases = Object.entries(v.phases || {});
  const total = (c) => Object.entries(c).filter(([k]) => !k.endsWith("_cache_hits")).reduce((a, [, n]) => a + n, 0);
  if (phases.length) facts["calls by phase"] = phases.map(([p, c]) => `${p} ${total(c)}`).join(" · ");
  if (v.budget_stop) facts["budget"] = `search stopped after level ${v.budget_stop.level}`;
  if (v.forked_from) facts["forked from"] = `${v.forked_from.run_id} after ${v.forked_from.stage} level ${v.forked_from.level}`;
  $("facts").innerHTML = Object.entries(facts).map(([k, x]) => `<dt>${esc(k)}</dt><dd data-fact="${esc(k)}">${esc(x)}</dd>`).join("");
  renderApproval(v);
  $("best-prompt").textContent = v.best_system_prompt || "(none yet)";
  $("diff").innerHTML = v.previous_best_prompt == null ? '<span class="muted">(no earlier best)</span>' :
    v.diff.map(([op, t]) => (op === "=" ? esc(t) : op === "-" ? `<del>${esc(t)}</del>` : `<ins>${esc(t)}</ins>`)).join("");
  $("chart").innerHTML = renderChart(v.level_table);
  renderLevelTable(v.level_table);
  $("levels").innerHTML = renderLevels(v.records.system_prompt, "sp");
  $("icl-levels").innerHTML = renderLevels(v.records.icl, "icl");
  document.querySelectorAll("details[data-key]").forEach((d) => {
    d.open = state.open.has(d.dataset.key);
    d.ontoggle = () => (d.open ? state.open.add(d.dataset.key) : state.open.delete(d.dataset.key));
  });
  if ($("fork-form").dataset.for !== v.run_id) {  // the run's own judge, until edited
    $("fork-form").dataset.for = v.run_id;
    $("fork-judge").value = ctx.judge_model ?? "";
    $("fork-node").value = ctx.judge_node ?? "dynamic";
  }
  const sp = (v.config && v.config.system_prompt) || {};
  for (const k of ["W", "M", "D"]) $("fork-" + k).placeholder = sp[k] ?? "";
  await drawGraph();
  if ($("history-box").open) await renderHistory();
}

const STAGE = { icl: "stage 1 (ICL)", system_prompt: "stage 2 (prompt)" };

// one row per level of either stage: rewards, aspects, and the actions that start there
function renderLevelTable(rows) {
  const body = $("level-table").querySelector("tbody");
  body.innerHTML = rows.length ? rows.map((r) => `<tr data-stage="${esc(r.stage)}" data-level="${r.level}">
    <td>${esc(STAGE[r.stage])}</td><td>${r.level}</td><td>${fmt(r.best_reward)}</td>
    <td>${r.beam_rewards.map(fmt).join(", ")}</td><td>${esc(r.aspects.join(", "))}</td>
    <td>${r.checkpoint_id ? `<button class="fork">fork from here</button> <button class="replay">replay from here</button>`
      : '<span class="muted" title="no checkpoint of this level in this thread (a fork starts after it): fork its parent">-</span>'}</td></tr>`).join("")
    : '<tr><td colspan="6" class="muted">no level finished yet</td></tr>';
  body.querySelectorAll("button").forEach((b) => {
    const tr = b.closest("tr");
    const row = rows.find((r) => r.stage === tr.dataset.stage && String(r.level) === tr.dataset.level);
    b.onclick = () => b.classList.contains("replay") ? act("replay", { checkpoint_id: row.checkpoint_id }) : act("fork", forkBody(row));
  });
}

function forkBody(row) {
  const num = (id) => ($(id).value.trim() === "" ? null : Number($(id).value));
  return { stage: row.stage, level: row.level, judge_model: $("fork-judge").value.trim(),
    judge_node: $("fork-node").value.trim() || "dynamic", W: num("fork-W"), M: num("fork-M"), D: num("fork-D") };
}

// inline SVG: best reward per level (line) and the beam's rewards (dots), stage 1 then stage 2
function renderChart(rows) {
  if (!rows.length) return "";
  const W = 720, H = 230, L = 40, R = 12, T = 16, B = 34;
  const all = rows.flatMap((r) => [r.best_reward, ...r.beam_rewards]).filter((x) => x != null);
  const lo = Math.min(1, ...all), hi = Math.max(5, ...all);
  const x = (i) => L + (rows.length === 1 ? (W - L - R) / 2 : (i * (W - L - R)) / (rows.length - 1));
  const y = (r) => T + ((hi - r) * (H - T - B)) / (hi - lo);
  let svg = `<svg viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="rewards per level">`;
  for (let t = Math.ceil(lo); t <= hi; t++) svg += `<line class="grid" x1="${L}" x2="${W - R}" y1="${y(t)}" y2="${y(t)}"/><text x="${L - 6}" y="${y(t) + 4}" text-anchor="end">${t}</text>`;
  for (const stage of ["icl", "system_prompt"]) {
    const idx = rows.map((r, i) => [r, i]).filter(([r]) => r.stage === stage);
    if (!idx.length) continue;
    const pts = idx.filter(([r]) => r.best_reward != null).map(([r, i]) => `${x(i)},${y(r.best_reward)}`).join(" ");
    svg += `<polyline class="best ${stage}" points="${pts}"/>`;
    svg += `<text class="stage" x="${x(idx[0][1])}" y="${H - 4}">${esc(STAGE[stage])}</text>`;
    for (const [r, i] of idx) {
      const tip = `${STAGE[stage]} level ${r.level}: best ${fmt(r.best_reward)}; beam ${r.beam_rewards.map(fmt).join(", ")}; aspects ${r.aspects.join(", ")}`;
      for (const b of r.beam_rewards) svg += `<circle class="beam" cx="${x(i)}" cy="${y(b)}" r="3"><title>${esc(tip)}</title></circle>`;
      if (r.best_reward != null) svg += `<circle class="best ${stage}" cx="${x(i)}" cy="${y(r.best_reward)}" r="5"><title>${esc(tip)}</title></circle>`;
      svg += `<text x="${x(i)}" y="${H - B + 14}" text-anchor="middle">${r.level}</text>`;
    }
  }
  const first2 = rows.findIndex((r) => r.stage === "system_prompt");
  if (first2 > 0) svg += `<line class="split" x1="${(x(first2 - 1) + x(first2)) / 2}" x2="${(x(first2 - 1) + x(first2)) / 2}" y1="${T}" y2="${H - B}"/>`;
  return svg + "</svg>";
}

function renderApproval(v) {
  const req = v.pending && v.pending[0];
  $("approval").hidden = !req;
  if (!req) return;
  $("approval-level").textContent = `stage 2, level ${req.level}`;
  $("approval-reward").textContent = fmt(req.best.reward);
  if ($("approval").dataset.for !== req.best.id) {
    $("approval-text").value = req.best.text;
    $("approval").dataset.for = req.best.id;
  }
}

function renderLevels(records, kind) {
  if (!records.length) return '<p class="muted">no level finished yet</p>';
  return records.map((r) => {
    const key = `${kind}:${r.track}:${r.level}`;
    const rows = r.candidates.map((c) => {
      const evs = c.evaluations.map((e) => {
        const scores = Object.entries(e.scores).map(([a, s]) => `<tr><td>${esc(a)}</td><td>${esc(s.score)}</td><td>${esc(s.rationale)}</td></tr>`).join("");
        return `<div class="evaluation"><b>query</b> ${esc(e.query)}<br><b>output</b> ${esc(e.output)}<br><b>reward</b> ${fmt(e.reward)}
          <table class="scores"><thead><tr><th>aspect</th><th>score</th><th>rationale</th></tr></thead><tbody>${scores}</tbody></table></div>`;
      }).join("");
      return `<details data-key="${esc(key + ":" + c.id)}" class="candidate"><summary><code>${esc(c.id)}</code> reward ${fmt(c.reward)} ${c.kept ? '<span class="kept">kept</span>' : ""} <span class="muted">from ${esc(c.parent ?? "-")}</span></summary>
        <pre>${esc(c.text)}</pre>${evs}</details>`;
    }).join("");
    const title = kind === "sp" ? `level ${r.level}` : `${r.track} level ${r.level}`;
    return `<details data-key="${esc(key)}" class="level"><summary><b>${esc(title)}</b>: best ${fmt(r.best_reward)}, ${r.candidates.length} candidate(s)${r.dropped_duplicates > 0 ? `, ${r.dropped_duplicates} duplicate(s) dropped` : ""}</summary>${rows}</details>`;
  }).join("");
}

async function drawGraph() {
  if (!state.graphs) state.graphs = await api("graph");
  const tabs = $("graph-tabs");
  if (!tabs.children.length) {
    for (const t of Object.keys(state.graphs)) {
      const b = document.createElement("button");
      b.textContent = t;
      b.dataset.tab = t;
      b.onclick = () => { state.tab = t; drawGraph(); };
      tabs.appendChild(b);
    }
  }
  const v = state.view;
  if (!state.tab || !(state.tab in state.graphs)) state.tab = "run";
  tabs.querySelectorAll("button").forEach((b) => b.classList.toggle("on", b.dataset.tab === state.tab));
  const current = [...new Set(v.next)];
  let text = state.graphs[state.tab];
  if (current.length) text += `\n\tclassDef current fill:#ffd27a,stroke:#c77d00,stroke-width:3px\n\tclass ${current.join(",")} current\n`;
  if (text === state.drawn) return;
  state.drawn = text;
  const el = $("graph");
  if (!window.mermaid) { el.innerHTML = `<pre>${esc(text)}</pre>`; return; }
  window.mermaid.initialize({ startOnLoad: false, securityLevel: "strict" });
  const { svg } = await window.mermaid.render("g" + Date.now(), text);
  el.innerHTML = svg;
}

async function renderHistory() {
  const rows = await api(`runs/${encodeURIComponent(state.runId)}/history`);
  $("history").querySelector("tbody").innerHTML = rows.map((h) => `<tr data-checkpoint="${esc(h.checkpoint_id)}">
    <td>${esc(h.step)}</td><td>${esc(h.source)}</td><td>${esc(h.closed ?? "")}</td><td>${esc(h.next.join(", ") || "(end)")}</td><td>${esc(h.created_at)}</td>
    <td>${h.can_replay ? `<button class="replay">replay from here</button>` : ""}</td></tr>`).join("");
  $("history-count").textContent = rows.length;
  document.querySelectorAll("#history button").forEach((b) => {
    b.onclick = () => act("replay", { checkpoint_id: b.closest("tr").dataset.checkpoint });
  });
}

async function act(what, body) {
  const out = $("action-result");
  try {
    const res = await api(`runs/${encodeURIComponent(state.runId)}/${what}`, body);
    out.textContent = `${what}: started ${res.run_id}`;
    out.className = "";
    await loadRuns();
    if (res.run_id !== state.runId) await selectRun(res.run_id); else await refresh();
  } catch (e) {
    out.textContent = `${what} failed: ${e.message}`;
    out.className = "error";
  }
}

$("history-box").ontoggle = () => { if ($("history-box").open && state.runId) renderHistory(); };
$("approve").onclick = () => act("answer", { action: "approve" });
$("reject").onclick = () => act("answer", { action: "reject" });
$("edit").onclick = () => act("answer", { action: "edit", text: $("approval-text").value });
$("stop").onclick = async () => {
  try { $("action-result").textContent = (await api(`runs/${encodeURIComponent(state.runId)}/stop`, {})).message; }
  catch (e) { $("action-result").textContent = `stop failed: ${e.message}`; }
};

async function tick() {
  try {
    await loadRuns();
    const s = state.view && state.view.status;
    if (state.runId && (s === "running" || s === "in progress" || !state.view)) await refresh();
  } catch (e) {
    $("updated").textContent = "error: " + e.message;
  }
}
loadRuns().then(() => {
  const wanted = new URLSearchParams(location.search).get("run");
  if (wanted) selectRun(wanted);
});
setInterval(tick, 1500);
