// Turning API messages into what the CLI prints: aligned text, Markdown,
// CSV and the documented JSON shapes (see README.md, "JSON shapes").
#ifndef FORGETLAB_CLIENT_RENDER_H_
#define FORGETLAB_CLIENT_RENDER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "forgetlab/v1/forgetlab.pb.h"

namespace forgetlab {

// Unix milliseconds as local "YYYY-MM-DD HH:MM:SS".
std::string LocalTime(int64_t ms);
// Columns of left-aligned text; `right` marks right-aligned columns.
std::string Columns(const std::vector<std::vector<std::string>>& rows,
                    const std::vector<bool>& right);

// How `table` summarises the values of a cell.
enum class Aggregation {
  kMean,    // mean ± 95% CI half-width (n)
  kMedian,  // median (n)
  kRaw,     // every value, in job order
};

// {"metric": str, "row_axis": str, "col_axis": str, "duplicates_dropped":
//  int, "pooled_over": [{"path": str, "distinct": int, "values": [str, ...]}],
//  "cells": [{"row": number,
//  "col": number, "n": int, "mean": x, "std": x, "sem": x, "ci95_low": x,
//  "ci95_high": x, "min": x, "max": x}]}
// With kMedian each cell also has "median": x; with kRaw "values": [x, ...].
std::string TableJson(const v1::Table& table,
                      Aggregation agg = Aggregation::kMean);
// Header: <row_axis>,<col_axis>,parameter_count,n,mean,std,sem,ci95_low,
// ci95_high,min,max,median,values (values joined by ';'); one line per
// cell.
std::string TableCsv(const v1::Table& table);
// A grid: rows = row axis (with the parameter count when a model.* row holds
// one model size), columns = col axis, cells "mean ± half-CI (n)" (or the
// median, or the raw values). Under the title, "pooled over: PATH (N
// values)" and "duplicates dropped: N" when they apply.
std::string TableMarkdown(const v1::Table& table,
                          Aggregation agg = Aggregation::kMean);
// Like Markdown, aligned for a terminal; `color` shades cells by value.
std::string TableText(const v1::Table& table, bool color,
                      Aggregation agg = Aggregation::kMean);

// {"sweep_id": str, "state": str, "total": int, "counts": {"queued": int,
//  "leased": int, "succeeded": int, "failed": int, "cancelled": int,
//  "awaiting_pretraining": int}, "pretraining_jobs": int, "waiting": str}
// ("waiting": why queued jobs wait, "" when they don't; "pretraining_jobs":
// how many of "total" are shared pretraining jobs)
std::string StatusJson(const v1::SweepStatus& status);
std::string StatusText(const v1::SweepStatus& status);

// [{"job_id": int, "kind": "experiment"|"pretrain", "state": str,
//   "artifact_key": str, "attempt": int, "cached": bool,
//   "worker": str, "error": str,
//   "axes": {path: number}, "progress": {"phase": str, "step": int,
//   "total_steps": int}}]
std::string JobsJson(const std::vector<v1::Job>& jobs);
std::string JobsText(const std::vector<v1::Job>& jobs);

std::string SweepsText(const std::vector<v1::SweepStatus>& sweeps);
std::string WorkersText(const std::vector<v1::WorkerInfo>& workers,
                        int64_t now_ms);

// One progress line: "12/36 done  1 running  0 failed  ETA 1m05s", then
// "waiting: <why>" when no live worker can take the queued jobs. With
// `bar_width` > 0 a bar of that many characters leads it.
std::string ProgressLine(const v1::SweepStatus& status, double eta_seconds,
                         int bar_width);

// "RUNNING" -> "running"; used in human-readable text only.
std::string JobStateName(v1::JobState state);

}  // namespace forgetlab

#endif  // FORGETLAB_CLIENT_RENDER_H_
