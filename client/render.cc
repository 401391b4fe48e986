// Renderers for the CLI.
#include "client/render.h"

#include <algorithm>
#include <cmath>
#include <ctime>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "proto/net/json_writer.h"

namespace forgetlab {
namespace {

// Axis values print as integers when they are whole (32, 50000).
std::string AxisValue(double v) {
  if (std::isfinite(v) && v == std::floor(v) && std::fabs(v) < 1e15) {
    return absl::StrCat(static_cast<int64_t>(v));
  }
  return absl::StrFormat("%g", v);
}

// 669706 -> "669,706".
std::string Grouped(int64_t n) {
  std::string digits = absl::StrCat(n < 0 ? -n : n);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return n < 0 ? "-" + out : out;
}

const v1::TableCell* FindCell(const v1::Table& table, double row, double col) {
  for (const v1::TableCell& c : table.cells()) {
    if (c.row() == row && c.col() == col) return &c;
  }
  return nullptr;
}

std::string CellText(const v1::TableCell* cell, Aggregation agg) {
  if (cell == nullptr) return "-";
  switch (agg) {
    case Aggregation::kMedian:
      return absl::StrFormat("%.4f (%d)", cell->median(), cell->n());
    case Aggregation::kRaw: {
      std::vector<std::string> values;
      for (double v : cell->values())
        values.push_back(absl::StrFormat("%.4f", v));
      return absl::StrJoin(values, " ");
    }
    case Aggregation::kMean:
      break;
  }
  return absl::StrFormat("%.4f ± %.4f (%d)", cell->mean(),
                         cell->ci95_high() - cell->mean(), cell->n());
}

double CellValue(const v1::TableCell& cell, Aggregation agg) {
  return agg == Aggregation::kMedian ? cell.median() : cell.mean();
}

// Rows of a model-scale axis (model.*) also show the parameter count, when
// the row holds one model size.
std::string RowLabel(const v1::Table& table, const v1::TableRow& row) {
  if (table.row_axis().rfind("model.", 0) != 0 ||
      row.parameter_count_min() != row.parameter_count_max()) {
    return AxisValue(row.value());
  }
  return absl::StrCat(AxisValue(row.value()), " (",
                      Grouped(row.parameter_count()), " params)");
}

std::string Title(const v1::Table& table, Aggregation agg) {
  const char* what = agg == Aggregation::kMedian ? "median (n)"
                     : agg == Aggregation::kRaw
                         ? "values per job"
                         : "mean ± 95% CI half-width (n)";
  return absl::StrCat(table.metric(), ": ", what, "; rows ", table.row_axis(),
                      ", columns ", table.col_axis());
}

// The lines under the title that say what the cells pooled and dropped:
// "pooled over: model.depth (3 values)", "duplicates dropped: 2 (...)".
std::vector<std::string> PoolingNotes(const v1::Table& table) {
  std::vector<std::string> notes;
  if (table.pooled_over_size() > 0) {
    std::vector<std::string> axes;
    for (const v1::PooledAxis& p : table.pooled_over()) {
      axes.push_back(absl::StrCat(
          p.path(), " (", std::max(p.distinct(), p.values_size()), " values)"));
    }
    notes.push_back(absl::StrCat("pooled over: ", absl::StrJoin(axes, ", ")));
  }
  if (table.duplicates_dropped() > 0) {
    notes.push_back(absl::StrCat(
        "duplicates dropped: ", table.duplicates_dropped(),
        " (the same experiment in more than one sweep counts once)"));
  }
  return notes;
}

// Display width of a UTF-8 string (counts code points).
size_t Width(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

std::string Pad(const std::string& s, size_t width, bool right) {
  const size_t w = Width(s);
  const std::string fill(w < width ? width - w : 0, ' ');
  return right ? fill + s : s + fill;
}

std::string Duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const int64_t s = static_cast<int64_t>(std::llround(seconds));
  if (s >= 3600) return absl::StrFormat("%dh%02dm", s / 3600, (s / 60) % 60);
  if (s >= 60) return absl::StrFormat("%dm%02ds", s / 60, s % 60);
  return absl::StrFormat("%ds", s);
}

}  // namespace

std::string LocalTime(int64_t ms) {
  const std::time_t t = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  localtime_r(&t, &tm);
  char buffer[32];
  std::strftime(buffer, sizeof(buffer), "%Y-%m-%d %H:%M:%S", &tm);
  return buffer;
}

std::string Columns(const std::vector<std::vector<std::string>>& rows,
                    const std::vector<bool>& right) {
  std::vector<size_t> widths;
  for (const auto& row : rows) {
    widths.resize(std::max(widths.size(), row.size()), 0);
    for (size_t i = 0; i < row.size(); ++i) {
      widths[i] = std::max(widths[i], Width(row[i]));
    }
  }
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      const bool r = i < right.size() && right[i];
      absl::StrAppend(
          &line, i ? "  " : "",
          i + 1 == row.size() && !r ? row[i] : Pad(row[i], widths[i], r));
    }
    absl::StrAppend(&out, line, "\n");
  }
  return out;
}

std::string JobStateName(v1::JobState state) {
  switch (state) {
    case v1::QUEUED:
      return "QUEUED";
    case v1::LEASED:
      return "LEASED";
    case v1::SUCCEEDED:
      return "SUCCEEDED";
    case v1::FAILED:
      return "FAILED";
    case v1::CANCELLED:
      return "CANCELLED";
    case v1::WAITING:
      return "WAITING";
    default:
      return "UNKNOWN";
  }
}

std::string TableJson(const v1::Table& table, Aggregation agg) {
  std::string out =
      absl::StrCat("{\"metric\": ", JsonString(table.metric()),
                   ", \"row_axis\": ", JsonString(table.row_axis()),
                   ", \"col_axis\": ", JsonString(table.col_axis()),
                   ", \"duplicates_dropped\": ", table.duplicates_dropped(),
                   ", \"pooled_over\": [");
  for (int i = 0; i < table.pooled_over_size(); ++i) {
    const v1::PooledAxis& p = table.pooled_over(i);
    std::vector<std::string> values;
    for (const std::string& v : p.values()) values.push_back(JsonString(v));
    absl::StrAppend(&out, i ? ", " : "", "{\"path\": ", JsonString(p.path()),
                    ", \"distinct\": ", std::max(p.distinct(), p.values_size()),
                    ", \"values\": [", absl::StrJoin(values, ", "), "]}");
  }
  absl::StrAppend(&out, "], \"cells\": [");
  for (int i = 0; i < table.cells_size(); ++i) {
    const v1::TableCell& c = table.cells(i);
    absl::StrAppend(
        &out, i ? ", " : "", "{\"row\": ", JsonNumber(c.row()),
        ", \"col\": ", JsonNumber(c.col()), ", \"n\": ", c.n(),
        ", \"mean\": ", JsonNumber(c.mean()),
        ", \"std\": ", JsonNumber(c.std()), ", \"sem\": ", JsonNumber(c.sem()),
        ", \"ci95_low\": ", JsonNumber(c.ci95_low()),
        ", \"ci95_high\": ", JsonNumber(c.ci95_high()),
        ", \"min\": ", JsonNumber(c.min()), ", \"max\": ", JsonNumber(c.max()));
    if (agg == Aggregation::kMedian) {
      absl::StrAppend(&out, ", \"median\": ", JsonNumber(c.median()));
    } else if (agg == Aggregation::kRaw) {
      std::vector<std::string> values;
      for (double v : c.values()) values.push_back(JsonNumber(v));
      absl::StrAppend(&out, ", \"values\": [", absl::StrJoin(values, ", "),
                      "]");
    }
    absl::StrAppend(&out, "}");
  }
  absl::StrAppend(&out, "]}\n");
  return out;
}

std::string TableCsv(const v1::Table& table) {
  std::map<double, int64_t> params;
  for (const v1::TableRow& row : table.rows())
    params[row.value()] = row.parameter_count();
  auto quoted = [](const std::string& s) {
    if (s.find_first_of(",\"\n") == std::string::npos) return s;
    std::string q = "\"";
    for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
    return q + "\"";
  };
  std::string out = absl::StrCat(
      quoted(table.row_axis()), ",", quoted(table.col_axis()),
      ",parameter_count,n,mean,std,sem,ci95_low,ci95_high,min,max,median,"
      "values\n");
  for (const v1::TableCell& c : table.cells()) {
    absl::StrAppend(&out, JsonNumber(c.row()), ",", JsonNumber(c.col()), ",",
                    params[c.row()], ",", c.n(), ",", JsonNumber(c.mean()), ",",
                    JsonNumber(c.std()), ",", JsonNumber(c.sem()), ",",
                    JsonNumber(c.ci95_low()), ",", JsonNumber(c.ci95_high()),
                    ",", JsonNumber(c.min()), ",", JsonNumber(c.max()), ",",
                    JsonNumber(c.median()), ",");
    std::vector<std::string> values;
    for (double v : c.values()) values.push_back(JsonNumber(v));
    absl::StrAppend(&out, absl::StrJoin(values, ";"), "\n");
  }
  return out;
}

std::string TableMarkdown(const v1::Table& table, Aggregation agg) {
  std::string out = absl::StrCat("**", Title(table, agg), "**\n\n");
  for (const std::string& note : PoolingNotes(table)) {
    absl::StrAppend(&out, "_", note, "_\n\n");
  }
  absl::StrAppend(&out, "| ", table.row_axis(), " |");
  for (double col : table.cols())
    absl::StrAppend(&out, " ", AxisValue(col), " |");
  absl::StrAppend(&out, "\n|---|");
  for (int i = 0; i < table.cols_size(); ++i) absl::StrAppend(&out, "---:|");
  absl::StrAppend(&out, "\n");
  for (const v1::TableRow& row : table.rows()) {
    absl::StrAppend(&out, "| ", RowLabel(table, row), " |");
    for (double col : table.cols()) {
      absl::StrAppend(&out, " ",
                      CellText(FindCell(table, row.value(), col), agg), " |");
    }
    absl::StrAppend(&out, "\n");
  }
  return out;
}

std::string TableText(const v1::Table& table, bool color, Aggregation agg) {
  if (table.cells().empty()) {
    return absl::StrCat(Title(table, agg), "\n(no results yet)\n");
  }
  double low = CellValue(table.cells(0), agg), high = low;
  for (const v1::TableCell& c : table.cells()) {
    low = std::min(low, CellValue(c, agg));
    high = std::max(high, CellValue(c, agg));
  }
  std::vector<std::vector<std::string>> grid;
  std::vector<std::string> header = {
      absl::StrCat(table.row_axis(), " \\ ", table.col_axis())};
  for (double col : table.cols()) header.push_back(AxisValue(col));
  grid.push_back(header);
  for (const v1::TableRow& row : table.rows()) {
    std::vector<std::string> line = {RowLabel(table, row)};
    for (double col : table.cols()) {
      line.push_back(CellText(FindCell(table, row.value(), col), agg));
    }
    grid.push_back(line);
  }
  std::vector<size_t> widths(header.size(), 0);
  for (const auto& line : grid) {
    for (size_t i = 0; i < line.size(); ++i)
      widths[i] = std::max(widths[i], Width(line[i]));
  }
  std::string out = absl::StrCat(Title(table, agg), "\n");
  for (const std::string& note : PoolingNotes(table)) {
    absl::StrAppend(&out, note, "\n");
  }
  for (size_t r = 0; r < grid.size(); ++r) {
    std::string line;
    for (size_t i = 0; i < grid[r].size(); ++i) {
      std::string cell = Pad(grid[r][i], widths[i], i > 0);
      if (color && r > 0 && i > 0) {
        const v1::TableCell* c =
            FindCell(table, table.rows(static_cast<int>(r - 1)).value(),
                     table.cols(static_cast<int>(i - 1)));
        if (c != nullptr && high > low) {
          // Low values green, middle yellow, high red.
          const double t = (CellValue(*c, agg) - low) / (high - low);
          const char* code = t < 1.0 / 3 ? "32" : t < 2.0 / 3 ? "33" : "31";
          cell = absl::StrCat("\033[", code, "m", cell, "\033[0m");
        }
      }
      absl::StrAppend(&line, i ? "   " : "", cell);
    }
    absl::StrAppend(&out, line, "\n");
  }
  return out;
}

std::string StatusJson(const v1::SweepStatus& s) {
  return absl::StrCat(
      "{\"sweep_id\": ", JsonString(s.sweep_id()),
      ", \"state\": ", JsonString(s.state()),
      ", \"owner\": ", JsonString(s.owner()), ", \"total\": ", s.total(),
      ", \"counts\": {\"queued\": ", s.queued(), ", \"leased\": ", s.leased(),
      ", \"succeeded\": ", s.succeeded(), ", \"failed\": ", s.failed(),
      ", \"cancelled\": ", s.cancelled(),
      ", \"awaiting_pretraining\": ", s.awaiting_pretraining(),
      "}, \"pretraining_jobs\": ", s.pretraining(),
      ", \"waiting\": ", JsonString(s.waiting()), "}\n");
}

std::string StatusText(const v1::SweepStatus& s) {
  return absl::StrFormat(
      "sweep %s \"%s\": %s\n  %d jobs: %d succeeded (%d cached), %d running, "
      "%d queued, %s%d failed, %d cancelled\n%s  created %s%s\n%s",
      s.sweep_id(), s.name(), s.state(), s.total(), s.succeeded(), s.cached(),
      s.leased(), s.queued(),
      s.awaiting_pretraining() == 0
          ? ""
          : absl::StrCat(s.awaiting_pretraining(),
                         " waiting for shared pretraining, "),
      s.failed(), s.cancelled(),
      s.pretraining() == 0
          ? ""
          : absl::StrCat("  of which ", s.pretraining(),
                         " shared pretraining job",
                         s.pretraining() == 1 ? "" : "s", "\n"),
      LocalTime(s.created_ms()),
      s.owner().empty() ? "" : absl::StrCat(" by ", s.owner()),
      s.waiting().empty() ? ""
                          : absl::StrCat("  waiting: ", s.waiting(), "\n"));
}

std::string JobsJson(const std::vector<v1::Job>& jobs) {
  std::string out = "[";
  for (size_t i = 0; i < jobs.size(); ++i) {
    const v1::Job& j = jobs[i];
    std::map<std::string, double> axes(j.axis_values().begin(),
                                       j.axis_values().end());
    std::vector<std::string> axis_fields;
    for (const auto& [path, value] : axes) {
      axis_fields.push_back(
          absl::StrCat(JsonString(path), ": ", JsonNumber(value)));
    }
    absl::StrAppend(
        &out, i ? ",\n " : "", "{\"job_id\": ", j.job_id(),
        ", \"kind\": ", JsonString(j.kind().empty() ? "experiment" : j.kind()),
        ", \"state\": ", JsonString(JobStateName(j.state())),
        ", \"artifact_key\": ", JsonString(j.artifact_key()),
        ", \"attempt\": ", j.attempt(),
        ", \"cached\": ", j.cached() ? "true" : "false",
        ", \"worker\": ", JsonString(j.worker_id()),
        ", \"error\": ", JsonString(j.error()), ", \"axes\": {",
        absl::StrJoin(axis_fields, ", "),
        "}, \"progress\": {\"phase\": ", JsonString(j.progress().phase()),
        ", \"step\": ", j.progress().step(),
        ", \"total_steps\": ", j.progress().total_steps(), "}}");
  }
  absl::StrAppend(&out, "]\n");
  return out;
}

std::string JobsText(const std::vector<v1::Job>& jobs) {
  // Every job's axes: a shared pretraining job lacks the fine-tuning ones.
  std::set<std::string> axis_set;
  for (const v1::Job& job : jobs) {
    for (const auto& [path, unused] : job.axis_values()) axis_set.insert(path);
  }
  const std::vector<std::string> axes(axis_set.begin(), axis_set.end());
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> header = {"JOB", "KIND", "STATE", "ATTEMPT",
                                     "WORKER"};
  header.insert(header.end(), axes.begin(), axes.end());
  header.push_back("PROGRESS");
  header.push_back("ERROR");
  rows.push_back(header);
  for (const v1::Job& j : jobs) {
    std::vector<std::string> row = {
        absl::StrCat(j.job_id()), j.kind() == "pretrain" ? "pretrain" : "exp",
        JobStateName(j.state()), absl::StrCat(j.attempt()),
        j.worker_id().empty() ? "-" : j.worker_id()};
    for (const std::string& axis : axes) {
      auto it = j.axis_values().find(axis);
      row.push_back(it == j.axis_values().end() ? "-" : AxisValue(it->second));
    }
    row.push_back(
        j.cached()                   ? "cached"
        : j.state() == v1::SUCCEEDED ? "done"
        : j.progress().total_steps() > 0
            ? absl::StrCat(j.progress().step(), "/", j.progress().total_steps(),
                           j.state() == v1::LEASED
                               ? absl::StrCat(" ", j.progress().phase())
                               : "")
            : "-");
    row.push_back(j.error());
    rows.push_back(row);
  }
  std::vector<bool> right(header.size(), false);
  right[0] = right[3] = true;
  for (size_t i = 0; i < axes.size(); ++i) right[5 + i] = true;
  return Columns(rows, right);
}

std::string SweepsText(const std::vector<v1::SweepStatus>& sweeps) {
  if (sweeps.empty())
    return "no sweeps yet; submit one with `forgetlab submit FILE`\n";
  std::vector<std::vector<std::string>> rows = {
      {"SWEEP", "STATE", "DONE/TOTAL", "FAILED", "CREATED", "NAME"}};
  for (const v1::SweepStatus& s : sweeps) {
    rows.push_back({s.sweep_id(), s.state(),
                    absl::StrCat(s.succeeded(), "/", s.total()),
                    absl::StrCat(s.failed() + s.cancelled()),
                    LocalTime(s.created_ms()), s.name()});
  }
  return Columns(rows, {false, false, true, true, false, false});
}

std::string WorkersText(const std::vector<v1::WorkerInfo>& workers,
                        int64_t now_ms) {
  if (workers.empty()) return "no workers have registered\n";
  std::vector<std::vector<std::string>> rows = {{"WORKER", "HOST", "DEVICE",
                                                 "THREADS", "DATASETS", "JOB",
                                                 "LAST SEEN", "STATE"}};
  for (const v1::WorkerInfo& w : workers) {
    rows.push_back(
        {w.worker_id(), w.host(), w.device(),
         w.threads() > 0 ? absl::StrCat(w.threads()) : "-",
         w.datasets().empty() ? "any" : absl::StrJoin(w.datasets(), ","),
         w.current_job_id() ? absl::StrCat(w.current_job_id()) : "-",
         absl::StrCat(Duration((now_ms - w.last_seen_ms()) / 1000.0), " ago"),
         w.lost() ? "lost" : (w.current_job_id() ? "busy" : "idle")});
  }
  return Columns(rows, {});
}

std::string ProgressLine(const v1::SweepStatus& s, double eta_seconds,
                         int bar_width) {
  const int finished = s.succeeded() + s.failed() + s.cancelled();
  std::string out;
  if (bar_width > 0) {
    const int filled =
        s.total() > 0
            ? static_cast<int>(int64_t{bar_width} * finished / s.total())
            : 0;
    out = absl::StrCat(
        "[", std::string(static_cast<size_t>(filled), '#'),
        std::string(static_cast<size_t>(bar_width - filled), '.'), "] ");
  }
  absl::StrAppend(&out, finished, "/", s.total(), " done  ", s.leased(),
                  " running  ", s.queued(), " queued  ", s.failed(), " failed");
  if (s.cancelled() > 0)
    absl::StrAppend(&out, "  ", s.cancelled(), " cancelled");
  if (s.state() == "DONE") {
    absl::StrAppend(&out, "  finished");
  } else if (eta_seconds >= 0) {
    absl::StrAppend(&out, "  ETA ", Duration(eta_seconds));
  }
  if (!s.waiting().empty() && s.state() != "DONE") {
    absl::StrAppend(&out, "  waiting: ", s.waiting());
  }
  return out;
}

}  // namespace forgetlab
