// The researcher's outputs, checked the way a person would see them: the
// HTML report rendered in headless Chromium (DOM and screenshot), the CSV
// read by a real CSV parser, the figure as a standalone SVG.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <zlib.h>

#include <cstdint>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "tests/harness.h"

namespace forgetlab::e2e {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

constexpr char kChromium[] = "/usr/bin/chromium";
constexpr char kPython[] = "/usr/bin/python3";

int Count(const std::string& text, const std::string& what) {
  int n = 0;
  for (size_t at = text.find(what); at != std::string::npos;
       at = text.find(what, at + 1)) {
    ++n;
  }
  return n;
}

// Runs argv to completion with stdout in `out`; returns the exit code.
int RunToEnd(const std::vector<std::string>& argv, const std::string& out) {
  Process p(argv, out);
  return p.Wait(std::chrono::seconds(120));
}

std::vector<std::string> ChromiumArgs(const std::string& profile) {
  return {kChromium,
          "--headless",
          "--no-sandbox",
          "--disable-gpu",
          "--disable-quic",
          "--no-first-run",
          "--disable-background-networking",
          "--disable-component-update",
          "--disable-sync",
          "--hide-scrollbars",
          "--user-data-dir=" + profile};
}

struct Image {
  int width = 0, height = 0;
  std::vector<uint8_t> rgb;  // width * height * 3
};

uint32_t BigEndian(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) |
         (uint32_t{p[2]} << 8) | p[3];
}

int Paeth(int a, int b, int c) {
  const int p = a + b - c, pa = std::abs(p - a), pb = std::abs(p - b),
            pc = std::abs(p - c);
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

// Decodes an 8-bit RGB or RGBA, non-interlaced PNG (what Chromium writes).
bool DecodePng(const std::string& file, Image* image) {
  const std::string data = ReadFile(file);
  const auto* bytes = reinterpret_cast<const uint8_t*>(data.data());
  if (data.size() < 33 || data.compare(1, 3, "PNG") != 0) return false;
  std::string idat;
  int channels = 0;
  for (size_t at = 8; at + 12 <= data.size();) {
    const uint32_t length = BigEndian(bytes + at);
    const std::string type = data.substr(at + 4, 4);
    const uint8_t* body = bytes + at + 8;
    if (type == "IHDR") {
      image->width = static_cast<int>(BigEndian(body));
      image->height = static_cast<int>(BigEndian(body + 4));
      if (body[8] != 8 || body[12] != 0) return false;
      channels = body[9] == 6 ? 4 : body[9] == 2 ? 3 : 0;
    } else if (type == "IDAT") {
      idat.append(reinterpret_cast<const char*>(body), length);
    }
    at += 12 + length;
  }
  if (channels == 0) return false;
  const size_t stride = static_cast<size_t>(image->width) * channels;
  std::vector<uint8_t> raw((stride + 1) * image->height);
  uLongf raw_size = raw.size();
  if (uncompress(raw.data(), &raw_size,
                 reinterpret_cast<const Bytef*>(idat.data()),
                 idat.size()) != Z_OK) {
    return false;
  }
  std::vector<uint8_t> pixels(stride * image->height), previous(stride, 0);
  for (int y = 0; y < image->height; ++y) {
    const uint8_t filter = raw[y * (stride + 1)];
    const uint8_t* in = &raw[y * (stride + 1) + 1];
    uint8_t* row = &pixels[y * stride];
    for (size_t x = 0; x < stride; ++x) {
      const int a = x >= static_cast<size_t>(channels) ? row[x - channels] : 0;
      const int b = previous[x];
      const int c =
          x >= static_cast<size_t>(channels) ? previous[x - channels] : 0;
      const int predictor = filter == 1   ? a
                            : filter == 2 ? b
                            : filter == 3 ? (a + b) / 2
                            : filter == 4 ? Paeth(a, b, c)
                                          : 0;
      row[x] = static_cast<uint8_t>(in[x] + predictor);
    }
    std::copy(row, row + stride, previous.begin());
  }
  image->rgb.resize(static_cast<size_t>(image->width) * image->height * 3);
  for (size_t p = 0; p < static_cast<size_t>(image->width) * image->height;
       ++p) {
    for (int k = 0; k < 3; ++k)
      image->rgb[p * 3 + k] = pixels[p * channels + k];
  }
  return true;
}

TEST(ReportRenderTest, ReportRendersInChromiumAndCsvParses) {
  Cluster cluster("report_render");
  ASSERT_TRUE(cluster.StartServer());
  auto worker = cluster.StartWorker("worker");
  const Output submit =
      cluster.Cli({"submit", cluster.WriteFile("sweep.textproto", R"pb(
                     name: "report test"
                     base {
                       data { dataset: "synthetic" }
                       pretrain { steps: 60 }
                       finetune { steps: 60 }
                       eval { eval_every: 20 }
                     }
                     axes {
                       path: "model.width"
                       values: [ 16, 64 ]
                     }
                     axes {
                       path: "pretrain.examples"
                       values: [ 0, 500 ]
                     }
                     seeds: [ 0, 1 ]
                   )pb")});
  ASSERT_EQ(submit.code, 0) << submit.err;
  const std::string id = LastLine(submit.out);
  ASSERT_EQ(cluster.Cli({"watch", id}).code, 0);

  const std::string report = (cluster.dir() / "report.html").string();
  const std::string figure = (cluster.dir() / "figure.svg").string();
  ASSERT_EQ(cluster.Cli({"report", id, "--out=" + report}).code, 0);
  ASSERT_EQ(cluster.Cli({"plot", id, "--out=" + figure}).code, 0);
  const std::string html = ReadFile(report);
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find("http://"), html.find("http://www.w3.org"));  // none
  EXPECT_THAT(ReadFile(figure),
              HasSubstr("xmlns=\"http://www.w3.org/2000/svg\""));

  // CSV, read by Python's csv module.
  const std::string csv = (cluster.dir() / "table.csv").string();
  {
    const Output table = cluster.Cli({"table", id, "--format=csv"});
    ASSERT_EQ(table.code, 0);
    cluster.WriteFile("table.csv", table.out);
  }
  if (fs::exists(kPython)) {
    const std::string checked = (cluster.dir() / "csv.out").string();
    EXPECT_EQ(RunToEnd({kPython, "-c",
                        "import csv, sys\n"
                        "rows = list(csv.DictReader(open(sys.argv[1])))\n"
                        "assert len(rows) == 4, rows\n"
                        "for r in rows:\n"
                        "  assert int(r['n']) == 2\n"
                        "  assert float(r['ci95_low']) <= float(r['mean']) <= "
                        "float(r['ci95_high'])\n"
                        "  assert len(r['values'].split(';')) == 2\n"
                        "  assert r['model.width'] in ('16', '64')\n"
                        "print('csv ok', len(rows))\n",
                        csv},
                       checked),
              0)
        << ReadFile(checked);
  }

  if (!fs::exists(kChromium)) {
    GTEST_SKIP()
        << "chromium is not installed (deploy/install-deps.sh installs it)";
  }
  // The DOM after rendering: every chart is there.
  const std::string dom = (cluster.dir() / "dom.html").string();
  std::vector<std::string> args =
      ChromiumArgs((cluster.dir() / "profile1").string());
  args.push_back("--dump-dom");
  args.push_back("file://" + report);
  ASSERT_EQ(RunToEnd(args, dom), 0) << ReadFile(dom);
  const std::string rendered = ReadFile(dom);
  EXPECT_EQ(Count(rendered, "<svg"), 4);  // heatmap, figure, 2 frontiers
  EXPECT_EQ(Count(rendered, "class=\"cell\""), 4);
  EXPECT_EQ(Count(rendered, "class=\"errorbar\""), 4);
  EXPECT_GE(Count(rendered, "<polyline"), 2 + 4);
  EXPECT_EQ(Count(rendered, "<table class=\"matrix\">"), 4);

  // The screenshot: not blank, and the coloured chart lines are drawn.
  const std::string png = (cluster.dir() / "report.png").string();
  args = ChromiumArgs((cluster.dir() / "profile2").string());
  args.push_back("--window-size=1280,2400");
  args.push_back("--screenshot=" + png);
  args.push_back("file://" + report);
  const std::string log = (cluster.dir() / "chromium.log").string();
  ASSERT_EQ(RunToEnd(args, log), 0) << ReadFile(log);
  Image image;
  ASSERT_TRUE(DecodePng(png, &image)) << png;
  EXPECT_EQ(image.width, 1280);
  size_t non_white = 0, blue = 0;
  std::set<uint32_t> colours;
  for (size_t p = 0; p < image.rgb.size(); p += 3) {
    const int r = image.rgb[p], g = image.rgb[p + 1], b = image.rgb[p + 2];
    non_white += (r < 240 || g < 240 || b < 240);
    blue += (std::abs(r - 0x00) < 40 && std::abs(g - 0x72) < 40 &&
             std::abs(b - 0xB2) < 40);  // the first series' colour
    colours.insert((r << 16) | (g << 8) | b);
  }
  const double pixels = image.rgb.size() / 3.0;
  EXPECT_GT(non_white / pixels, 0.02) << "the screenshot is (nearly) blank";
  EXPECT_GT(blue, 100u) << "no chart line was drawn";
  EXPECT_GT(colours.size(), 50u);
}

}  // namespace
}  // namespace forgetlab::e2e
