package dev.phalanx.train;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/** A self-contained HTML page with the loss and test-accuracy curves as inline SVG. */
final class HtmlReport {

    private HtmlReport() { }

    static String render(String title, List<Metrics.Row> rows) {
        List<double[]> loss = new ArrayList<>(), acc = new ArrayList<>();
        for (Metrics.Row r : rows) {
            if (!Double.isNaN(r.loss())) loss.add(new double[] {r.step(), r.loss()});
            if (!Double.isNaN(r.accuracy())) acc.add(new double[] {r.step(), r.accuracy()});
        }
        StringBuilder b = new StringBuilder();
        b.append("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>").append(escape(title)).append(" - Phalanx run</title>\n")
                .append("<style>body{font-family:sans-serif;margin:2em;color:#222}svg{background:#fafafa;border:1px solid #ddd}"
                        + "table{border-collapse:collapse}td,th{padding:2px 8px;border-bottom:1px solid #eee;text-align:right}</style>\n")
                .append("</head><body>\n<h1>").append(escape(title)).append("</h1>\n");
        b.append("<h2>Training loss</h2>\n").append(chart(loss, "step", "loss", "#1f77b4"));
        b.append("<h2>Test accuracy</h2>\n").append(chart(acc, "step", "accuracy (%)", "#d62728"));
        if (!acc.isEmpty()) {
            b.append("<table><tr><th>epoch</th><th>step</th><th>test accuracy</th></tr>\n");
            for (Metrics.Row r : rows) {
                if (!Double.isNaN(r.accuracy())) {
                    b.append(String.format(Locale.ROOT, "<tr><td>%d</td><td>%d</td><td>%.2f %%</td></tr>%n", r.epoch(), r.step(), r.accuracy()));
                }
            }
            b.append("</table>\n");
        }
        return b.append("</body></html>\n").toString();
    }

    private static String chart(List<double[]> pts, String xLabel, String yLabel, String colour) {
        int w = 720, h = 300, left = 60, right = 20, top = 20, bottom = 40;
        if (pts.isEmpty()) return "<p>(no data yet)</p>\n";
        double x0 = pts.get(0)[0], x1 = x0, y0 = pts.get(0)[1], y1 = y0;
        for (double[] p : pts) {
            x0 = Math.min(x0, p[0]);
            x1 = Math.max(x1, p[0]);
            y0 = Math.min(y0, p[1]);
            y1 = Math.max(y1, p[1]);
        }
        if (x1 == x0) x1 = x0 + 1;
        if (y1 == y0) {
            y1 += 0.5;
            y0 -= 0.5;
        }
        StringBuilder b = new StringBuilder();
        b.append(String.format(Locale.ROOT, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" role=\"img\" aria-label=\"%s\">%n",
                w, h, escape(yLabel)));
        b.append(String.format(Locale.ROOT, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#888\"/>%n", left, h - bottom, w - right, h - bottom));
        b.append(String.format(Locale.ROOT, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#888\"/>%n", left, top, left, h - bottom));
        for (int i = 0; i <= 4; i++) {
            double v = y0 + (y1 - y0) * i / 4;
            double y = h - bottom - (h - top - bottom) * i / 4.0;
            b.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%.1f\" font-size=\"11\" text-anchor=\"end\">%.3g</text>%n", left - 4, y + 4, v));
            double xv = x0 + (x1 - x0) * i / 4;
            double x = left + (w - left - right) * i / 4.0;
            b.append(String.format(Locale.ROOT, "<text x=\"%.1f\" y=\"%d\" font-size=\"11\" text-anchor=\"middle\">%.0f</text>%n", x, h - bottom + 15, xv));
        }
        b.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%d\" font-size=\"12\" text-anchor=\"middle\">%s</text>%n", (left + w - right) / 2, h - 5, xLabel));
        b.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%d\" font-size=\"12\" text-anchor=\"middle\" transform=\"rotate(-90 %d %d)\">%s</text>%n",
                14, (top + h - bottom) / 2, 14, (top + h - bottom) / 2, escape(yLabel)));
        StringBuilder path = new StringBuilder();
        for (double[] p : pts) {
            double x = left + (w - left - right) * (p[0] - x0) / (x1 - x0);
            double y = h - bottom - (h - top - bottom) * (p[1] - y0) / (y1 - y0);
            path.append(path.length() == 0 ? "M" : " L").append(String.format(Locale.ROOT, "%.1f %.1f", x, y));
        }
        b.append("<path d=\"").append(path).append("\" fill=\"none\" stroke=\"").append(colour).append("\" stroke-width=\"2\"/>\n");
        if (pts.size() <= 50) {
            for (double[] p : pts) {
                double x = left + (w - left - right) * (p[0] - x0) / (x1 - x0);
                double y = h - bottom - (h - top - bottom) * (p[1] - y0) / (y1 - y0);
                b.append(String.format(Locale.ROOT, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>%n", x, y, colour));
            }
        }
        return b.append("</svg>\n").toString();
    }

    private static String escape(String s) {
        return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\"", "&quot;");
    }
}
