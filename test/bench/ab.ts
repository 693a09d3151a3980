// Before/after comparison of one benchmark script on two checkouts of this repo, alternating
// runs (A B A B ...) so drift on the machine hits both alike; prints every run and the medians of
// the figures the script prints. A figure is any "NUMBER UNIT" pair on its output lines, named by
// the words before it, or a number in a markdown table, named by its row and column.
//   bun test/bench/ab.ts BEFORE_DIR AFTER_DIR RUNS SCRIPT [ARGS...]
//   e.g. bun test/bench/ab.ts /tmp/before . 5 test/bench/server-udp.ts 5 1400
const [before, after, runsText, script, ...args] = process.argv.slice(2);
if (!before || !after || !runsText || !script) {
  console.error("usage: bun test/bench/ab.ts BEFORE_DIR AFTER_DIR RUNS SCRIPT [ARGS...]");
  process.exit(2);
}
const runs = Number(runsText);

function figures(out: string): Map<string, number> {
  const m = new Map<string, number>();
  let header: string[] = [];
  for (const line of out.split("\n")) {
    // a markdown table: each numeric cell is named by its row's first cell and its column's header
    if (line.startsWith("|")) {
      const cells = line
        .split("|")
        .slice(1, -1)
        .map((c) => c.trim());
      if (cells.every((c) => /^-+$/.test(c))) continue;
      if (!cells.slice(1).some((c) => /^-?\d+(\.\d+)?$/.test(c))) header = cells;
      else
        cells.forEach((c, i) => {
          if (i > 0 && /^-?\d+(\.\d+)?$/.test(c)) m.set(`${cells[0]}: ${header[i] ?? i}`, Number(c));
        });
      continue;
    }
    const re = /([A-Za-z+/ ]*?)\s*(-?\d+(?:\.\d+)?)\s*(kpps|Mbit\/s|µs|ms|pps|s|%)/g;
    let x: RegExpExecArray | null;
    while ((x = re.exec(line)) !== null) {
      const name = `${x[1]!.trim().split(" ").slice(-3).join(" ")} [${x[3]}]`;
      if (!m.has(name)) m.set(name, Number(x[2]));
    }
  }
  return m;
}

const median = (a: number[]) => {
  const s = [...a].sort((x, y) => x - y);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

const results: Record<"before" | "after", Map<string, number>[]> = { before: [], after: [] };
for (let i = 0; i < runs; i++)
  for (const [label, dir] of [
    ["before", before],
    ["after", after],
  ] as const) {
    const p = Bun.spawnSync([process.execPath, `${dir}/${script}`, ...args], { stdout: "pipe", stderr: "pipe" });
    const out = p.stdout.toString();
    console.log(`--- run ${i + 1} ${label} (${dir}), exit ${p.exitCode}\n${out.trim()}`);
    results[label].push(figures(out));
  }
console.log(`\nmedians of ${runs} alternating runs: ${script} ${args.join(" ")}`);
console.log(`${"figure".padEnd(50)} ${"before".padStart(10)} ${"after".padStart(10)} ${"after/before".padStart(13)}`);
for (const name of results.before[0]?.keys() ?? []) {
  const b = median(results.before.map((m) => m.get(name) ?? NaN));
  const a = median(results.after.map((m) => m.get(name) ?? NaN));
  console.log(
    `${name.padEnd(50)} ${b.toFixed(2).padStart(10)} ${a.toFixed(2).padStart(10)} ${(a / b).toFixed(3).padStart(13)}`,
  );
}
