/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "chart.h"
#include "macro.h"
#include "stats.h"

/* Colours that tell eight series apart (and read in print). */
static const char *const colours[CELL_CHART_SERIES_MAX] = {
	"#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#9c755f",
};

enum { WIDTH = 860, HEIGHT = 380, LEFT = 80, RIGHT = 20, TOP = 20, BOTTOM = 50 };

/* Text for HTML and SVG alike: &, <, >, " and ' escaped. */
static void put_text(FILE *f, const char *s)
{
	for (; *s; s++)
		switch (*s) {
		case '&':
			fputs("&amp;", f);
			break;
		case '<':
			fputs("&lt;", f);
			break;
		case '>':
			fputs("&gt;", f);
			break;
		case '"':
			fputs("&quot;", f);
			break;
		case '\'':
			fputs("&#39;", f);
			break;
		default:
			fputc(*s, f);
		}
}

static void time_label(int64_t t, int64_t span, char *buf, size_t size)
{
	time_t sec = (time_t)t;
	struct tm tm;

	localtime_r(&sec, &tm);
	strftime(buf, size, span > 2 * 86400 ? "%m-%d %H:%M" : "%H:%M", &tm);
}

/* The columns, stacked by series, and the axes. */
static void chart(FILE *f, const struct cell_chart *c)
{
	double plot_w = WIDTH - LEFT - RIGHT, plot_h = HEIGHT - TOP - BOTTOM;
	double col_w = c->n_buckets ? plot_w / (double)c->n_buckets : plot_w;
	uint64_t top = 1;
	char label[32];

	for (size_t b = 0; b < c->n_buckets; b++) {
		uint64_t sum = 0;

		for (size_t s = 0; s < c->n_series; s++)
			sum += c->values[s][b];
		top = sum > top ? sum : top;
	}
	fprintf(f,
		"<svg class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" "
		"height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\">\n",
		WIDTH, HEIGHT, WIDTH, HEIGHT);
	/* the y axis: four gridlines, in bytes for people */
	for (int i = 0; i <= 4; i++) {
		double y = TOP + plot_h - plot_h * i / 4.0;

		cell_stats_human(top * (uint64_t)i / 4, label, sizeof(label));
		fprintf(f,
			"<line class=\"grid\" x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\"/>"
			"<text class=\"ylabel\" x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n",
			LEFT, y, WIDTH - RIGHT, y, LEFT - 6, y + 4, label);
	}
	for (size_t b = 0; b < c->n_buckets; b++) {
		double y = TOP + plot_h;

		for (size_t s = 0; s < c->n_series; s++) {
			double h = plot_h * (double)c->values[s][b] / (double)top;

			if (c->values[s][b] == 0)
				continue;
			y -= h;
			fprintf(f,
				"<rect class=\"bar\" data-host=\"%zu\" x=\"%.1f\" y=\"%.1f\" "
				"width=\"%.1f\" height=\"%.1f\" fill=\"%s\"><title>",
				s, LEFT + col_w * (double)b + col_w * 0.1, y, col_w * 0.8,
				h < 0.5 ? 0.5 : h, colours[s]);
			put_text(f, c->names[s]);
			cell_stats_human(c->values[s][b], label, sizeof(label));
			fprintf(f, ": %s</title></rect>\n", label);
		}
	}
	/* the x axis: the start, the end and three times between */
	for (int i = 0; i <= 4; i++) {
		int64_t span = c->bucket * (int64_t)c->n_buckets;

		time_label(c->start + span * i / 4, span, label, sizeof(label));
		fprintf(f,
			"<text class=\"xlabel\" x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%s</text>\n",
			LEFT + plot_w * i / 4.0, HEIGHT - BOTTOM + 20, label);
	}
	fprintf(f, "<line class=\"axis\" x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/>\n</svg>\n", LEFT,
		TOP + (int)plot_h, WIDTH - RIGHT, TOP + (int)plot_h);
}

int cell_chart_html(const struct cell_chart *c, char **ret_html)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	if (!f)
		return -ENOMEM;
	fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>", f);
	put_text(f, c->title);
	fputs("</title>\n<style>\n"
	      "body{font:14px system-ui,sans-serif;margin:2em;color:#222}\n"
	      ".grid{stroke:#ddd}.axis{stroke:#444}.xlabel,.ylabel{font-size:12px;fill:#555}\n"
	      ".legend{list-style:none;padding:0;display:flex;flex-wrap:wrap;gap:1em}\n"
	      ".swatch{display:inline-block;width:.9em;height:.9em;margin-right:.3em;"
	      "vertical-align:-.1em}\n"
	      "table{border-collapse:collapse;margin-top:1em}td,th{padding:.2em .8em;"
	      "text-align:right}td:first-child,th:first-child{text-align:left}\n"
	      "</style></head><body>\n<h1>",
	      f);
	put_text(f, c->title);
	fputs("</h1>\n", f);
	if (c->subtitle) {
		fputs("<p class=\"subtitle\">", f);
		put_text(f, c->subtitle);
		fputs("</p>\n", f);
	}
	if (c->n_buckets && c->n_series)
		chart(f, c);
	else
		fputs("<p class=\"empty\">Nothing was counted in this time.</p>\n", f);
	fputs("<ul class=\"legend\">\n", f);
	for (size_t s = 0; s < c->n_series; s++) {
		fprintf(f, "<li><span class=\"swatch\" style=\"background:%s\"></span>",
			colours[s]);
		put_text(f, c->names[s]);
		fputs("</li>\n", f);
	}
	fputs("</ul>\n<table class=\"totals\"><tr><th>host</th><th>bytes</th></tr>\n", f);
	for (size_t s = 0; s < c->n_series; s++) {
		uint64_t sum = 0;
		char human[32];

		for (size_t b = 0; b < c->n_buckets; b++)
			sum += c->values[s][b];
		cell_stats_human(sum, human, sizeof(human));
		fputs("<tr><td>", f);
		put_text(f, c->names[s]);
		fprintf(f, "</td><td>%s</td></tr>\n", human);
	}
	fputs("</table>\n</body></html>\n", f);
	if (fclose(f) != 0) {
		free(text);
		return -ENOMEM;
	}
	*ret_html = text;
	return 0;
}
