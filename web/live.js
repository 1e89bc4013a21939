/* bannerd's live page: polls GET /live about twice a second and draws
 * each connection's banner time, the stages behind it, the sessions and
 * the queue, the cause keys and every control change. With
 * metrics.control = on (and this browser's address allowed) it also sends
 * `set KEY=VALUE` lines to POST /control, with the token bannerd logged
 * at start-up, which the URL carries as #token=....
 *
 * Memory is bounded here as in bannerd: at most MAX_POINTS connections
 * and WINDOW_S seconds of history, whatever the page's uptime. */
"use strict";

const POLL_MS = 500;
const WINDOW_S = 600;
const MAX_POINTS = 20000;
const QUANTILE_N = 200;		/* p50/p99 over the last this many banners */
const STAGES = ["queue", "proxy", "rdns_wait", "rdns", "ident", "delay", "write"];
/* Okabe-Ito: tells apart for the common colour blindnesses */
const STAGE_COLOURS = {
	queue: "#e69f00", proxy: "#56b4e9", rdns_wait: "#009e73", rdns: "#0072b2",
	ident: "#cc79a7", delay: "#d55e00", write: "#000000",
};
const OUTCOME_COLOURS = { ok: "#0072b2", gaveup: "#d55e00", rejected: "#000000" };
const CAUSE_KEYS = ["log.protocol_log", "rdns.enabled", "rdns.active", "rdns.mode", "rdns.servers",
	"rdns.timeout", "rdns.tries", "rdns.threads", "ident.enabled", "banner.delay",
	"banner.delay_jitter", "pool.workers", "pool.sessions_per_worker", "pool.queue_max"];
const AXIS_FONT = "16px system-ui, sans-serif";

/* read each time: pasting the logged URL into an open page changes only
 * the hash, which reloads nothing */
const hashParam = (name) => new URLSearchParams(location.hash.slice(1)).get(name) || "";
const token = () => hashParam("token");

const state = {
	seq: 0,
	conns: [],		/* {t, s (banner seconds), outcome, stages} sorted by t */
	bannersSeen: 0,		/* banner records received since the page opened */
	gauges: { t: [], sessions: [], queued: [] },
	changes: [],
	keys: {},
	keysBefore: {},
	profiles: [],
	profile: null,		/* {name, give_up_us, ...} */
	control: false,
	now: Date.now() / 1000,
	span: 300,
	dropped: 0,
};

const $ = (id) => document.getElementById(id);

/* ---- formatting ---- */

function fmtSeconds(s) {
	if (s == null || !isFinite(s))
		return "-";
	if (s === 0)
		return "0";
	if (s >= 100)
		return s.toFixed(0) + " s";
	if (s >= 1)
		return (+s.toPrecision(3)) + " s";
	if (s >= 0.001)
		return (+(s * 1000).toPrecision(3)) + " ms";
	return (+(s * 1e6).toPrecision(3)) + " µs";
}

function quantile(sorted, q) {
	if (sorted.length === 0)
		return null;
	const i = Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1);
	return sorted[Math.max(0, i)];
}

/* ---- what the chosen MTA would have done ---- */

function verdict(c) {
	if (c.outcome === "rejected")
		return "rejected";
	if (c.outcome === "abandoned")
		return "gaveup";
	if (state.profile && c.s * 1e6 >= state.profile.give_up_us)
		return "gaveup";
	return "ok";
}

/* ---- data ---- */

function addConns(list) {
	let sorted = true;
	const last = () => state.conns.length ? state.conns[state.conns.length - 1].t : -Infinity;
	for (const r of list) {
		const c = { t: r.t, s: Math.max(r.banner_us, 1) / 1e6, outcome: r.outcome, stages: r.stages || {} };
		if (c.t < last())
			sorted = false;
		state.conns.push(c);
		if (r.outcome === "banner")
			state.bannersSeen++;
	}
	if (!sorted)
		state.conns.sort((a, b) => a.t - b.t);
}

function prune() {
	const cut = state.now - WINDOW_S;
	let drop = Math.max(0, state.conns.length - MAX_POINTS);
	while (drop < state.conns.length && state.conns[drop].t < cut)
		drop++;
	if (drop)
		state.conns.splice(0, drop);
	const g = state.gauges;
	let k = 0;
	while (k < g.t.length && g.t[k] < cut)
		k++;
	if (k) {
		g.t.splice(0, k);
		g.sessions.splice(0, k);
		g.queued.splice(0, k);
	}
}

function absorb(j) {
	/* A bannerd restarted numbers its records from 1 again: what this page
	 * holds is another process's, and since= would skip every new record
	 * until the old number. Start over; the next poll asks for all. */
	if (typeof j.seq === "number" && j.seq < state.seq) {
		state.seq = 0;
		state.conns = [];
		state.bannersSeen = 0;
		state.keys = {};
		return;
	}
	state.now = j.now;
	state.dropped = j.dropped || 0;
	addConns(j.conns || []);
	if (typeof j.seq === "number")
		state.seq = Math.max(state.seq, j.seq);
	const g = j.gauges || {};
	state.gauges.t.push(j.now);
	state.gauges.sessions.push(g.sessions ?? null);
	state.gauges.queued.push(g.queued ?? null);
	state.lastGauges = g;
	if (Object.keys(state.keys).length === 0)
		state.keysBefore = j.keys || {};
	state.keys = j.keys || {};
	state.changes = j.changes || [];
	state.control = !!j.control;
	prune();
}

/* ---- charts ---- */

/* The x range: the chosen span, but no wider than the data so far (plus
 * a little), so a freshly opened page is not a thin strip at the right. */
function viewLo() {
	const first = state.conns.length ? state.conns[0].t : state.now;
	const since = Math.min(first, state.gauges.t.length ? state.gauges.t[0] : state.now);
	return Math.max(state.now - state.span, Math.min(since - 2, state.now - 30));
}

function inView(t) {
	return t >= viewLo() && t <= state.now + 1;
}

/* Vertical lines at each control change, labelled on the banner chart. */
function drawChanges(u, labelled) {
	const ctx = u.ctx;
	const top = u.bbox.top, height = u.bbox.height;
	ctx.save();
	ctx.strokeStyle = "#6a3d9a";
	ctx.fillStyle = "#6a3d9a";
	ctx.lineWidth = 2 * devicePixelRatio;
	ctx.setLineDash([6 * devicePixelRatio, 4 * devicePixelRatio]);
	ctx.font = `bold ${14 * devicePixelRatio}px system-ui, sans-serif`;
	ctx.textAlign = "left";		/* uPlot leaves its axes' alignment set */
	ctx.textBaseline = "alphabetic";
	let row = 0;
	for (const c of state.changes) {
		if (!inView(c.t))
			continue;
		const x = Math.round(u.valToPos(c.t, "x", true));
		ctx.beginPath();
		ctx.moveTo(x, top);
		ctx.lineTo(x, top + height);
		ctx.stroke();
		if (labelled) {
			const text = c.line.replace(/^set /, "");
			const w = ctx.measureText(text).width;
			const lx = x + w + 6 > u.bbox.left + u.bbox.width ? x - w - 4 : x + 4;
			const ly = top + (14 + 18 * (row++ % 3)) * devicePixelRatio;
			/* on a white patch: the label often crosses points or the threshold */
			ctx.fillStyle = "rgba(255,255,255,0.85)";
			ctx.fillRect(lx - 2, ly - 13 * devicePixelRatio, w + 4, 17 * devicePixelRatio);
			ctx.fillStyle = "#6a3d9a";
			ctx.fillText(text, lx, ly);
		}
	}
	ctx.restore();
}

function drawThreshold(u) {
	if (!state.profile)
		return;
	const thr = state.profile.give_up_us / 1e6;
	const y = Math.round(u.valToPos(thr, "y", true));
	if (y < u.bbox.top || y > u.bbox.top + u.bbox.height)
		return;
	const ctx = u.ctx;
	ctx.save();
	ctx.strokeStyle = OUTCOME_COLOURS.gaveup;
	ctx.fillStyle = OUTCOME_COLOURS.gaveup;
	ctx.lineWidth = 3 * devicePixelRatio;
	ctx.setLineDash([12 * devicePixelRatio, 6 * devicePixelRatio]);
	ctx.beginPath();
	ctx.moveTo(u.bbox.left, y);
	ctx.lineTo(u.bbox.left + u.bbox.width, y);
	ctx.stroke();
	ctx.font = `bold ${16 * devicePixelRatio}px system-ui, sans-serif`;
	ctx.textAlign = "left";
	ctx.textBaseline = "alphabetic";
	const text = `${state.profile.name} gives up at ${fmtSeconds(thr)}`;
	const w = ctx.measureText(text).width;
	ctx.fillStyle = "rgba(255,255,255,0.8)";
	ctx.fillRect(u.bbox.left + 6, y - 24 * devicePixelRatio, w + 8, 18 * devicePixelRatio);
	ctx.fillStyle = OUTCOME_COLOURS.gaveup;
	ctx.fillText(text, u.bbox.left + 10, y - 9 * devicePixelRatio);
	ctx.restore();
}

function xScale() {
	return { time: true, range: () => [viewLo(), state.now + 1] };
}

function xAxis() {
	return {
		font: AXIS_FONT, stroke: "#111", grid: { stroke: "#e4e4e4" }, size: 34, space: 100,
		values: (u, splits) => splits.map((t) => new Date(t * 1000).toLocaleTimeString([], { hour12: false })),
	};
}

function chartWidth(el) {
	return Math.max(400, el.clientWidth);
}

function pointSeries(label, colour) {
	return {
		label, stroke: colour, fill: colour, width: 0,
		paths: () => null,
		points: { show: true, size: 8, stroke: colour, fill: colour, width: 1 },
	};
}

function makeBannerChart() {
	const el = $("chart-banner");
	return new uPlot({
		width: chartWidth(el), height: 300,
		legend: { live: false },
		cursor: { drag: { x: false, y: false }, points: { show: false } },
		scales: {
			x: xScale(),
			y: { distr: 3, log: 10, range: bannerRange },
		},
		axes: [xAxis(), {
			font: AXIS_FONT, stroke: "#111", size: 80,
			/* only the powers of ten: one line a decade */
			filter: decades,
			grid: { stroke: "#e4e4e4", filter: decades },
			ticks: { filter: decades },
			values: (u, splits) => splits.map((v) => v == null ? "" : fmtSeconds(v)),
		}],
		series: [{}, pointSeries("banner before give-up", OUTCOME_COLOURS.ok),
			pointSeries("would give up (or client left)", OUTCOME_COLOURS.gaveup),
			pointSeries("rejected (421)", OUTCOME_COLOURS.rejected)],
		hooks: { draw: [drawThreshold, (u) => drawChanges(u, true)] },
	}, [[], [], [], []], el);
}

function decades(u, splits) {
	return splits.map((v) => Math.abs(Math.log10(v) % 1) < 1e-9 ? v : null);
}

/* Powers of ten around the points and the threshold, so the give-up line
 * is always on the chart. */
function bannerRange(u, min, max) {
	let lo = 1e-3, hi = 10;
	for (const c of state.conns)
		if (inView(c.t)) {
			lo = Math.min(lo, c.s);
			hi = Math.max(hi, c.s);
		}
	if (state.profile)
		hi = Math.max(hi, state.profile.give_up_us / 1e6 * 1.5);
	return [10 ** Math.floor(Math.log10(lo)), 10 ** Math.ceil(Math.log10(hi))];
}

function makeStagesChart() {
	const el = $("chart-stages");
	/* stacked by hand: the top band first, each filled down to zero, the
	 * next drawn over it; the legend names the stages bottom-up */
	const series = [{}];
	for (const st of [...STAGES].reverse())
		series.push({
			label: st, stroke: STAGE_COLOURS[st], fill: STAGE_COLOURS[st], width: 1,
			show: st !== "proxy" && st !== "ident",
			points: { show: false },
		});
	return new uPlot({
		width: chartWidth(el), height: 160,
		legend: { live: false },
		cursor: { drag: { x: false, y: false }, points: { show: false } },
		scales: { x: xScale(), y: { range: (u, min, max) => [0, Math.max(max || 0, 0.001) * 1.1] } },
		axes: [xAxis(), {
			font: AXIS_FONT, stroke: "#111", grid: { stroke: "#e4e4e4" }, size: 80,
			values: (u, splits) => splits.map(fmtSeconds),
		}],
		series,
		hooks: { draw: [(u) => drawChanges(u, false)] },
	}, [[], ...STAGES.map(() => [])], el);
}

function makeGaugesChart() {
	const el = $("chart-gauges");
	return new uPlot({
		width: chartWidth(el), height: 120,
		legend: { live: false },
		cursor: { drag: { x: false, y: false }, points: { show: false } },
		scales: { x: xScale(), y: { range: (u, min, max) => [0, Math.max(max || 0, 4) * 1.15] } },
		axes: [xAxis(), { font: AXIS_FONT, stroke: "#111", grid: { stroke: "#e4e4e4" }, size: 80 }],
		series: [{},
			{ label: "open sessions", stroke: "#0072b2", width: 3, points: { show: false } },
			{ label: "queued", stroke: "#e69f00", width: 3, points: { show: false } }],
		hooks: { draw: [(u) => drawChanges(u, false)] },
	}, [[], [], []], el);
}

function bannerData() {
	const xs = [], ok = [], gu = [], rj = [];
	for (const c of state.conns) {
		if (!inView(c.t))
			continue;
		const v = verdict(c);
		xs.push(c.t);
		ok.push(v === "ok" ? c.s : null);
		gu.push(v === "gaveup" ? c.s : null);
		rj.push(v === "rejected" ? c.s : null);
	}
	return [xs, ok, gu, rj];
}

/* Per 1 s bucket, the mean of each stage over the banners written in
 * it and the clients that left waiting for one (their stages run to the
 * moment they left, so a give-up shows where its wait went); cumulative,
 * top band first. A 421 waited for nothing and is left out. A second
 * without either is a gap, not a slope to the next one. */
function stageData() {
	const buckets = new Map();
	for (const c of state.conns) {
		if (c.outcome === "rejected" || !inView(c.t))
			continue;
		const k = Math.floor(c.t);
		let b = buckets.get(k);
		if (!b)
			buckets.set(k, b = { n: 0, sum: Object.fromEntries(STAGES.map((s) => [s, 0])) });
		b.n++;
		for (const st of STAGES)
			b.sum[st] += (c.stages[st] || 0) / 1e6;
	}
	const keys = [...buckets.keys()].sort((a, b) => a - b);
	const xs = [];
	const cum = STAGES.map(() => []);
	const seen = {};
	for (let x = keys[0]; keys.length && x <= keys[keys.length - 1]; x++) {
		const b = buckets.get(x);
		let acc = 0;
		xs.push(x);
		STAGES.forEach((st, i) => {
			if (!b) {
				cum[i].push(null);
				return;
			}
			const mean = b.sum[st] / b.n;
			if (mean > 0)
				seen[st] = true;
			acc += mean;
			cum[i].push(acc);
		});
	}
	return { data: [xs, ...cum.reverse()], seen };
}

function gaugeData() {
	const g = state.gauges;
	return [g.t, g.sessions, g.queued];
}

let charts = null;

function redraw() {
	if (!charts)
		return;
	const points = bannerData();
	charts.banner.setData(points);
	$("chart-banner").dataset.points = points[0].length;	/* for the browser test */
	const st = stageData();
	/* proxy and ident are shown only where they take time */
	[...STAGES].reverse().forEach((name, i) => {
		if ((name === "proxy" || name === "ident") && charts.stages.series[i + 1].show !== !!st.seen[name])
			charts.stages.setSeries(i + 1, { show: !!st.seen[name] });
	});
	charts.stages.setData(st.data);
	charts.gauges.setData(gaugeData());
}

/* ---- text ---- */

function setFigure(id, text, value) {
	const el = $(id);
	el.textContent = text;
	el.dataset.value = value == null ? "" : String(value);
}

function showFigures() {
	const banners = [];
	let gaveUp = 0;
	for (const c of state.conns) {
		if (c.outcome === "banner")
			banners.push(c.s);
		if (inView(c.t) && verdict(c) === "gaveup")
			gaveUp++;
	}
	const last = banners.slice(-QUANTILE_N).sort((a, b) => a - b);
	const p50 = quantile(last, 0.5), p99 = quantile(last, 0.99);
	setFigure("banners-total", String(state.bannersSeen), state.bannersSeen);
	setFigure("p50", fmtSeconds(p50), p50);
	setFigure("p99", fmtSeconds(p99), p99);
	setFigure("gaveup", String(gaveUp), gaveUp);
	const g = state.lastGauges || {};
	setFigure("sessions", g.sessions ?? "-", g.sessions);
	setFigure("queued", g.queued ?? "-", g.queued);
	$("quantile-n").textContent = last.length;
}

function showKeys() {
	const body = $("keys").tBodies[0];
	for (const k of CAUSE_KEYS) {
		if (!(k in state.keys))
			continue;
		const id = "key-" + k;
		let cell = document.getElementById(id);
		if (!cell) {
			const tr = body.insertRow();
			tr.insertCell().textContent = k;
			cell = tr.insertCell();
			cell.id = id;
		}
		const v = String(state.keys[k]);
		cell.textContent = v;
		cell.parentElement.classList.toggle("changed", String(state.keysBefore[k]) !== v);
	}
	for (const f of document.querySelectorAll("form[data-key]"))
		if (f.dataset.key in state.keys)
			f.querySelector("input").placeholder = String(state.keys[f.dataset.key]);
	/* the buttons of the current value stand out */
	for (const b of document.querySelectorAll("button[data-set]")) {
		const [k, v] = b.dataset.set.split("=");
		b.classList.toggle("current", String(state.keys[k]) === v);
	}
}

function showChanges() {
	const ol = $("changes");
	const recent = state.changes.slice(-8).reverse();
	const sig = JSON.stringify(recent);
	if (ol.dataset.sig === sig)
		return;
	ol.dataset.sig = sig;
	ol.replaceChildren(...recent.map((c) => {
		const li = document.createElement("li");
		const when = new Date(c.t * 1000).toLocaleTimeString();
		const code = document.createElement("code");
		code.textContent = c.line;
		li.append(when + " ", code, " (" + c.origin + ")");
		return li;
	}));
	if (recent.length === 0)
		ol.innerHTML = "<li class=\"small\">none yet</li>";
}

function showMode() {
	const mode = $("mode");
	$("controls").hidden = !state.control;
	mode.textContent = state.control ? (token() ? "controls on" : "controls: no token") : "read-only";
	mode.className = "badge" + (state.control ? (token() ? " on" : " bad") : "");
	const notice = $("notice");
	if (state.control && !token()) {
		notice.hidden = false;
		notice.textContent = "No token in this URL: bannerd will refuse changes. " +
			"Open the address bannerd logged at start-up (live page: http://…/#token=…).";
	} else {
		notice.hidden = true;
	}
}

/* ---- controls ---- */

async function sendControl(line) {
	const reply = $("control-reply");
	reply.className = "";
	reply.textContent = line + " …";
	let text, ok;
	try {
		const r = await fetch("/control", {
			method: "POST",
			headers: { "X-Bannerd-Token": token(), "Content-Type": "text/plain" },
			body: line,
			cache: "no-store",
		});
		text = (await r.text()).trim();
		ok = r.ok;
		if (r.status === 403)
			text = "refused (403): " + (token() ? "wrong token, or this address is not in " +
				"metrics.control_allow" : "no token in this page's URL") + (text ? "\n" + text : "");
		else if (r.status === 404)
			text = "refused (404): metrics.control is off";
		else if (!ok)
			text = "ERR (" + r.status + "): " + text.replace(/^ERR /m, "");
	} catch (e) {
		ok = false;
		text = "bannerd not reachable: " + e.message;
	}
	reply.className = ok ? "ok" : "err";
	reply.textContent = line + "\n" + text;
	poll();
}

function bindControls() {
	for (const b of document.querySelectorAll("button[data-set]"))
		b.addEventListener("click", () => sendControl("set " + b.dataset.set));
	for (const f of document.querySelectorAll("form[data-key]"))
		f.addEventListener("submit", (ev) => {
			ev.preventDefault();
			const v = f.querySelector("input").value.trim();
			if (v === "")
				return;
			sendControl("set " + f.dataset.key + "=" + v);
		});
}

/* ---- polling ---- */

let polling = false;

async function poll() {
	if (polling)
		return;
	polling = true;
	const status = $("status");
	try {
		const r = await fetch("/live?since=" + state.seq, { cache: "no-store" });
		if (!r.ok)
			throw new Error("HTTP " + r.status);
		absorb(await r.json());
		status.textContent = state.dropped ? `live (${state.dropped} dropped)` : "live";
		status.className = "badge on";
		showFigures();
		showKeys();
		showChanges();
		showMode();
		redraw();
	} catch (e) {
		status.textContent = "no data: " + e.message;
		status.className = "badge bad";
	} finally {
		polling = false;
	}
}

function tick() {
	poll().finally(() => setTimeout(tick, POLL_MS));
}

/* ---- profiles ---- */

async function loadProfiles() {
	const sel = $("profile");
	try {
		const r = await fetch("/static/profiles.json");
		state.profiles = await r.json();
	} catch (e) {
		state.profiles = [];
	}
	const want = hashParam("profile") || localStorage.getItem("bannerd-profile") || "impatient-30";
	for (const p of state.profiles) {
		const o = document.createElement("option");
		o.value = p.name;
		o.textContent = `${p.name} (${fmtSeconds(p.give_up_us / 1e6)})`;
		o.title = p.source;
		sel.append(o);
	}
	const pick = () => {
		state.profile = state.profiles.find((p) => p.name === sel.value) || null;
		$("profile-name").textContent = state.profile ? state.profile.name : "profile";
	};
	sel.value = state.profiles.some((p) => p.name === want) ? want : (state.profiles[0] || {}).name;
	pick();
	sel.addEventListener("change", () => {
		pick();
		localStorage.setItem("bannerd-profile", sel.value);
		showFigures();
		redraw();
	});
}

function resize() {
	if (!charts)
		return;
	for (const [name, c] of Object.entries(charts))
		c.setSize({ width: chartWidth($("chart-" + name)), height: c.height });
}

async function main() {
	$("span").addEventListener("change", (ev) => {
		state.span = +ev.target.value;
		showFigures();
		redraw();
	});
	bindControls();
	await loadProfiles();
	charts = { banner: makeBannerChart(), stages: makeStagesChart(), gauges: makeGaugesChart() };
	window.addEventListener("resize", resize);
	tick();
}

main();
