/**
 * The pipeline's DAG as a Mermaid flowchart or a Graphviz DOT graph: stages as nodes, edges
 * labelled with the names passed along, nodes coloured by what the last run or dry run found.
 */

/** What a node last did or would do. */
export type NodeState =
  | "cached"
  | "ran"
  | "would-run"
  | "run-if-upstream-changes"
  | "failed"
  | "blocked"
  | "excluded"
  | "unknown";

export interface DiagramNode {
  id: string;
  label: string;
  state: NodeState;
}

export interface DiagramEdge {
  from: string;
  to: string;
  label: string;
}

/** Each state's colours, shared by the diagrams and the HTML report (src/report/). */
export const COLOURS: Record<NodeState, { fill: string; stroke: string; text: string }> = {
  cached: { fill: "#d4edda", stroke: "#2e7d32", text: "#1b5e20" },
  ran: { fill: "#d0e4ff", stroke: "#1565c0", text: "#0d47a1" },
  "would-run": { fill: "#ffe0b2", stroke: "#ef6c00", text: "#e65100" },
  "run-if-upstream-changes": { fill: "#fff8e1", stroke: "#f9a825", text: "#8d6e00" },
  failed: { fill: "#ffcdd2", stroke: "#c62828", text: "#b71c1c" },
  blocked: { fill: "#eeeeee", stroke: "#9e9e9e", text: "#616161" },
  excluded: { fill: "#f5f5f5", stroke: "#bdbdbd", text: "#9e9e9e" },
  unknown: { fill: "#ffffff", stroke: "#757575", text: "#212121" },
};

/** Each state in words, for a legend. */
export const LEGEND: Record<NodeState, string> = {
  cached: "cached",
  ran: "ran",
  "would-run": "would run",
  "run-if-upstream-changes": "would run if upstream changes",
  failed: "failed",
  blocked: "not run (upstream failed)",
  excluded: "left out (only)",
  unknown: "",
};

function mermaidText(text: string): string {
  return text.replace(/"/g, "#quot;");
}

/** A Mermaid flowchart (`flowchart LR`), with a `classDef` per state. */
export function toMermaid(nodes: readonly DiagramNode[], edges: readonly DiagramEdge[]): string {
  const lines = ["flowchart LR", '  start(["start"])'];
  for (const node of nodes) {
    const legend = LEGEND[node.state];
    lines.push(
      `  ${node.id}["${mermaidText(node.label)}${legend ? `<br/><i>${legend}</i>` : ""}"]`,
    );
  }
  for (const edge of edges) {
    const label = edge.label ? `|"${mermaidText(edge.label)}"|` : "";
    lines.push(`  ${edge.from} -->${label} ${edge.to}`);
  }
  const used = new Set(nodes.map((n) => n.state));
  for (const [state, c] of Object.entries(COLOURS)) {
    if (!used.has(state as NodeState)) continue;
    lines.push(
      `  classDef ${state.replace(/-/g, "_")} fill:${c.fill},stroke:${c.stroke},color:${c.text}`,
    );
  }
  for (const node of nodes) lines.push(`  class ${node.id} ${node.state.replace(/-/g, "_")}`);
  return lines.join("\n") + "\n";
}

function dotText(text: string): string {
  return text.replace(/\\/g, "\\\\").replace(/"/g, '\\"');
}

/** A Graphviz DOT digraph, left to right, nodes filled by state. */
export function toDot(nodes: readonly DiagramNode[], edges: readonly DiagramEdge[]): string {
  const lines = [
    "digraph pipeline {",
    "  rankdir=LR;",
    '  node [shape=box, style="rounded,filled", fontname="Helvetica"];',
    '  edge [fontname="Helvetica", fontsize=10];',
    '  start [shape=oval, label="start", fillcolor="#ffffff"];',
  ];
  for (const node of nodes) {
    const c = COLOURS[node.state];
    const legend = LEGEND[node.state];
    const label = legend ? `${dotText(node.label)}\\n(${legend})` : dotText(node.label);
    lines.push(
      `  ${node.id} [label="${label}", fillcolor="${c.fill}", color="${c.stroke}", fontcolor="${c.text}"];`,
    );
  }
  for (const edge of edges) {
    lines.push(
      `  ${edge.from} -> ${edge.to}${edge.label ? ` [label="${dotText(edge.label)}"]` : ""};`,
    );
  }
  lines.push("}");
  return lines.join("\n") + "\n";
}
