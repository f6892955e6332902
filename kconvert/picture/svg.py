"""The layout as SVG text: boxes, labels (escaped: layer names come from untrusted files) and
arrows."""

from __future__ import annotations

from xml.sax.saxutils import escape, quoteattr

from kconvert.picture.layout import LINE_H, PAD, Layout


def render_svg(drawing: Layout, title: str) -> str:
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{drawing.width:.0f}" height="{drawing.height:.0f}" '
           f'viewBox="0 0 {drawing.width:.0f} {drawing.height:.0f}" font-family="monospace" font-size="12">',
           f"<title>{escape(title)}</title>",
           '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
           'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#555"/></marker></defs>',
           '<rect width="100%" height="100%" fill="white"/>']
    for source, target in drawing.edges:
        (x1, y1), (x2, y2) = drawing.boxes[source].bottom, drawing.boxes[target].top
        out.append(f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="#555" '
                   'marker-end="url(#arrow)"/>')
    for box in drawing.boxes.values():
        out.append(f'<g class="layer" data-name={quoteattr(box.name)}>')
        out.append(f'<rect x="{box.x:.1f}" y="{box.y:.1f}" width="{box.width:.1f}" height="{box.height:.1f}" '
                   'rx="4" fill="#eef3fb" stroke="#34568b"/>')
        for i, line in enumerate(box.lines):
            weight = ' font-weight="bold"' if i == 0 else ""
            out.append(f'<text x="{box.x + PAD:.1f}" y="{box.y + PAD / 2 + (i + 0.8) * LINE_H:.1f}"{weight}>'
                       f"{escape(line)}</text>")
        out.append("</g>")
    out.append("</svg>")
    return "\n".join(out) + "\n"
