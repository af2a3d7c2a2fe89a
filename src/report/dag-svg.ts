/**
 * The pipeline's DAG as inline SVG: stages as boxes coloured by what they did in the run (the
 * colours of diagram.ts's Mermaid and DOT diagrams), edges labelled with the names passed
 * along, laid out left to right by dagre.
 */
import dagre, { type EdgeLabel, type GraphLabel, type NodeLabel } from "@dagrejs/dagre";
import { COLOURS, LEGEND } from "../diagram.js";
import { attr, text } from "./html.js";
import { DECISIONS, type ReportEdge, type ReportStage } from "./model.js";

const CHAR_WIDTH = 7.2; // 12px sans-serif, about
/**
 * Above this many stages the DAG is not drawn: dagre lays out 2,000 in about 2 s (a chain of
 * 3,000 overflows its recursion), and a drawing that large shows nothing a reader can use.
 */
export const MAX_DRAWN = 2000;
const NODE_HEIGHT = 46;
const MAX_LABEL = 40;

function shorten(label: string): string {
  return label.length > MAX_LABEL ? `${label.slice(0, MAX_LABEL - 1)}…` : label;
}

const CANCELLED = { colours: COLOURS.blocked, legend: "cancelled (interrupted)" };

function coloursOf(stage: ReportStage) {
  return stage.state === "cancelled" ? CANCELLED.colours : COLOURS[stage.state];
}

function subtitle(stage: ReportStage): string {
  const legend = stage.state === "cancelled" ? CANCELLED.legend : LEGEND[stage.state];
  if (stage.elements === undefined) return legend;
  // A map: its elements, and what they did (`×4 · 1 ran, 3 cached`), rather than the node's state.
  const counts = stage.elements;
  const total = DECISIONS.reduce((sum, d) => sum + counts[d], 0);
  const what = DECISIONS.filter((d) => counts[d] > 0).map((d) => `${counts[d]} ${d}`);
  return what.length === 0 ? `×${total} · ${legend}` : `×${total} · ${what.join(", ")}`;
}

function notDrawn(why: string): string {
  return `<p class="empty">The DAG is not drawn: ${text(why)}. The timeline and the table of tasks show every stage.</p>`;
}

/** The DAG as one `<svg>` element (`class="dag"`, one `g.dag-node` per stage). */
export function dagSvg(stages: readonly ReportStage[], edges: readonly ReportEdge[]): string {
  if (stages.length === 0) return '<p class="empty">No stages recorded.</p>';
  if (stages.length > MAX_DRAWN) return notDrawn(`${stages.length} stages are too many to draw`);
  const graph = new dagre.graphlib.Graph<GraphLabel, NodeLabel, EdgeLabel>({ multigraph: true });
  graph.setGraph({ rankdir: "LR", nodesep: 24, ranksep: 56, edgesep: 12, marginx: 8, marginy: 8 });
  graph.setDefaultEdgeLabel(() => ({}));
  const index = new Map<string, number>();
  stages.forEach((stage, i) => {
    index.set(stage.id, i);
    const widest = Math.max(shorten(stage.name).length, subtitle(stage).length);
    graph.setNode(String(i), {
      width: Math.max(80, widest * CHAR_WIDTH + 24),
      height: NODE_HEIGHT,
    });
  });
  const drawn: ReportEdge[] = [];
  for (const edge of edges) {
    const from = index.get(edge.from);
    const to = index.get(edge.to);
    if (from === undefined || to === undefined) continue; // from `start` (the run's arguments)
    const label = shorten(edge.label);
    graph.setEdge(
      String(from),
      String(to),
      { label, width: label.length * 6.4, height: 14, labelpos: "c" },
      String(drawn.length),
    );
    drawn.push(edge);
  }
  try {
    dagre.layout(graph);
  } catch (error) {
    // A graph whose layout recurses deeper than the stack allows (a long chain).
    if (!(error instanceof RangeError)) throw error;
    return notDrawn(`the layout of its ${stages.length} stages failed (${error.message})`);
  }
  const { width = 0, height = 0 } = graph.graph();
  const parts: string[] = [];
  parts.push(
    `<svg class="dag" xmlns="http://www.w3.org/2000/svg"${attr("width", Math.ceil(width))}${attr("height", Math.ceil(height))}${attr("viewBox", `0 0 ${Math.ceil(width)} ${Math.ceil(height)}`)} role="img" aria-label="The pipeline's stages and what each did">`,
    '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0L10,5L0,10z" fill="#757575"/></marker></defs>',
  );
  for (const e of graph.edges()) {
    const edge = graph.edge(e);
    const points = edge.points ?? [];
    const d = points
      .map(
        (p: { x: number; y: number }, i: number) =>
          `${i === 0 ? "M" : "L"}${p.x.toFixed(1)},${p.y.toFixed(1)}`,
      )
      .join("");
    parts.push(`<g class="dag-edge"><path${attr("d", d)} marker-end="url(#arrow)"/>`);
    const label = drawn[Number(e.name)]?.label ?? "";
    if (label !== "" && edge.x !== undefined && edge.y !== undefined) {
      parts.push(
        `<text${attr("x", Number(edge.x.toFixed(1)))}${attr("y", Number((edge.y + 4).toFixed(1)))} text-anchor="middle">${text(shorten(label))}</text>`,
      );
    }
    parts.push("</g>");
  }
  stages.forEach((stage, i) => {
    const node = graph.node(String(i));
    const c = coloursOf(stage);
    const cx = node.x ?? 0;
    const cy = node.y ?? 0;
    const x = cx - node.width / 2;
    const y = cy - node.height / 2;
    const sub = subtitle(stage);
    parts.push(
      `<g class="dag-node"${attr("data-stage", stage.name)}${attr("data-state", stage.state)}>`,
      `<title>${text(`${stage.name}: ${sub || stage.state}`)}</title>`,
      `<rect${attr("x", x)}${attr("y", y)}${attr("width", node.width)}${attr("height", node.height)} rx="8"${attr("fill", c.fill)}${attr("stroke", c.stroke)}/>`,
      `<text${attr("x", cx)}${attr("y", sub === "" ? cy + 4 : cy - 3)} text-anchor="middle"${attr("fill", c.text)} font-weight="600">${text(shorten(stage.name))}</text>`,
      sub === ""
        ? ""
        : `<text${attr("x", cx)}${attr("y", cy + 13)} text-anchor="middle"${attr("fill", c.text)} font-size="11">${text(sub)}</text>`,
      "</g>",
    );
  });
  parts.push("</svg>");
  return parts.join("");
}
