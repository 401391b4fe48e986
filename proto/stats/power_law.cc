// Scaling-law fits by variable projection: for fixed exponents the law is
// linear in (c, a), solved in closed form, so only the exponents are searched
// (a grid, then golden section in one dimension or Nelder-Mead in two).
#include "proto/stats/power_law.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>

namespace forgetlab::stats {
namespace {

// Logarithms of x and y divided by their weighted geometric means, which
// keeps x^alpha near 1 whatever the units.
struct Centered {
  std::vector<double> lx, ly, m, w;
  double log_x0 = 0, log_y0 = 0;
  double total_ss = 0;  // weighted sum of squares of m about its mean
};

Centered Center(const std::vector<FitPoint>& points) {
  Centered z;
  double wsum = 0, mean = 0;
  for (const FitPoint& p : points) {
    z.log_x0 += p.weight * std::log(p.x);
    z.log_y0 += p.weight * std::log(p.y);
    mean += p.weight * p.mean;
    wsum += p.weight;
  }
  z.log_x0 /= wsum;
  z.log_y0 /= wsum;
  mean /= wsum;
  for (const FitPoint& p : points) {
    z.lx.push_back(std::log(p.x) - z.log_x0);
    z.ly.push_back(std::log(p.y) - z.log_y0);
    z.m.push_back(p.mean);
    z.w.push_back(p.weight);
    z.total_ss += p.weight * (p.mean - mean) * (p.mean - mean);
  }
  return z;
}

struct Linear {
  double c = 0, a = 0, rss = 0;
};

// The best (c, a) for fixed exponents, and its weighted residual sum of
// squares.
Linear Project(const Centered& z, double alpha, double beta) {
  const size_t n = z.m.size();
  double wsum = 0, gbar = 0, mbar = 0;
  std::vector<double> g(n);
  for (size_t i = 0; i < n; ++i) {
    g[i] = std::exp(alpha * z.lx[i] + beta * z.ly[i]);
    wsum += z.w[i];
    gbar += z.w[i] * g[i];
    mbar += z.w[i] * z.m[i];
  }
  gbar /= wsum;
  mbar /= wsum;
  double sgg = 0, sgm = 0;
  for (size_t i = 0; i < n; ++i) {
    sgg += z.w[i] * (g[i] - gbar) * (g[i] - gbar);
    sgm += z.w[i] * (g[i] - gbar) * (z.m[i] - mbar);
  }
  Linear out;
  // g constant (both exponents 0): only the intercept is identified.
  out.a = sgg > 1e-12 * gbar * gbar * wsum ? sgm / sgg : 0.0;
  out.c = mbar - out.a * gbar;
  for (size_t i = 0; i < n; ++i) {
    const double r = z.m[i] - out.c - out.a * g[i];
    out.rss += z.w[i] * r * r;
  }
  return out;
}

PowerLaw Finish(const Centered& z, double alpha, double beta) {
  const Linear best = Project(z, alpha, beta);
  PowerLaw law;
  law.alpha = alpha;
  law.beta = beta;
  law.c = best.c;
  // a * ((x / x0)^alpha) = (a / x0^alpha) * x^alpha.
  law.a = best.a * std::exp(-alpha * z.log_x0 - beta * z.log_y0);
  law.r2 = z.total_ss > 0 ? 1.0 - best.rss / z.total_ss : 1.0;
  const double edge = kMaxExponent - 1e-6;
  law.at_bound = std::abs(alpha) >= edge || std::abs(beta) >= edge;
  return law;
}

double Clamp(double v) { return std::clamp(v, -kMaxExponent, kMaxExponent); }

}  // namespace

double PowerLaw::Predict(double x, double y) const {
  return c + a * std::pow(x, alpha) * std::pow(y, beta);
}

PowerLaw FitPowerLaw(const std::vector<FitPoint>& points) {
  const Centered z = Center(points);
  auto rss = [&z](double alpha) { return Project(z, alpha, 0).rss; };
  constexpr int kGrid = 200;
  const double step = 2 * kMaxExponent / kGrid;
  int best = 0;
  double best_rss = std::numeric_limits<double>::infinity();
  for (int i = 0; i <= kGrid; ++i) {
    const double r = rss(-kMaxExponent + i * step);
    if (r < best_rss) {
      best_rss = r;
      best = i;
    }
  }
  // Golden section inside the grid cells on either side of the best point.
  double lo = Clamp(-kMaxExponent + (best - 1) * step);
  double hi = Clamp(-kMaxExponent + (best + 1) * step);
  const double phi = (std::sqrt(5.0) - 1) / 2;
  double x1 = hi - phi * (hi - lo), x2 = lo + phi * (hi - lo);
  double f1 = rss(x1), f2 = rss(x2);
  for (int it = 0; it < 60 && hi - lo > 1e-9; ++it) {
    if (f1 < f2) {
      hi = x2;
      x2 = x1;
      f2 = f1;
      x1 = hi - phi * (hi - lo);
      f1 = rss(x1);
    } else {
      lo = x1;
      x1 = x2;
      f1 = f2;
      x2 = lo + phi * (hi - lo);
      f2 = rss(x2);
    }
  }
  double alpha = (lo + hi) / 2;
  // The grid point itself may still be best (at a bound, say).
  if (best_rss < rss(alpha)) alpha = -kMaxExponent + best * step;
  return Finish(z, alpha, 0);
}

PowerLaw FitJointPowerLaw(const std::vector<FitPoint>& points) {
  const Centered z = Center(points);
  auto rss = [&z](const std::array<double, 2>& e) {
    return Project(z, Clamp(e[0]), Clamp(e[1])).rss;
  };
  constexpr int kGrid = 32;
  const double step = 2 * kMaxExponent / kGrid;
  std::array<double, 2> start = {0, 0};
  double best_rss = std::numeric_limits<double>::infinity();
  for (int i = 0; i <= kGrid; ++i) {
    for (int j = 0; j <= kGrid; ++j) {
      const std::array<double, 2> e = {-kMaxExponent + i * step,
                                       -kMaxExponent + j * step};
      const double r = rss(e);
      if (r < best_rss) {
        best_rss = r;
        start = e;
      }
    }
  }
  // Nelder-Mead from the best grid point, the simplex one grid step wide.
  std::array<std::array<double, 2>, 3> s = {
      start, std::array<double, 2>{start[0] + step, start[1]},
      std::array<double, 2>{start[0], start[1] + step}};
  std::array<double, 3> f = {rss(s[0]), rss(s[1]), rss(s[2])};
  for (int it = 0; it < 300; ++it) {
    std::array<int, 3> order = {0, 1, 2};
    std::sort(order.begin(), order.end(),
              [&f](int a, int b) { return f[a] < f[b]; });
    const int b = order[0], m = order[1], w = order[2];
    if (std::abs(s[w][0] - s[b][0]) + std::abs(s[w][1] - s[b][1]) < 1e-9) {
      break;
    }
    const std::array<double, 2> centroid = {(s[b][0] + s[m][0]) / 2,
                                            (s[b][1] + s[m][1]) / 2};
    auto toward = [&](double t) {
      return std::array<double, 2>{centroid[0] + t * (s[w][0] - centroid[0]),
                                   centroid[1] + t * (s[w][1] - centroid[1])};
    };
    const std::array<double, 2> reflected = toward(-1);
    const double fr = rss(reflected);
    if (fr < f[b]) {
      const std::array<double, 2> expanded = toward(-2);
      const double fe = rss(expanded);
      if (fe < fr) {
        s[w] = expanded;
        f[w] = fe;
      } else {
        s[w] = reflected;
        f[w] = fr;
      }
    } else if (fr < f[m]) {
      s[w] = reflected;
      f[w] = fr;
    } else {
      const std::array<double, 2> contracted = toward(0.5);
      const double fc = rss(contracted);
      if (fc < f[w]) {
        s[w] = contracted;
        f[w] = fc;
      } else {  // shrink toward the best
        for (int k : {m, w}) {
          s[k] = {(s[k][0] + s[b][0]) / 2, (s[k][1] + s[b][1]) / 2};
          f[k] = rss(s[k]);
        }
      }
    }
  }
  const int best =
      static_cast<int>(std::min_element(f.begin(), f.end()) - f.begin());
  return Finish(z, Clamp(s[best][0]), Clamp(s[best][1]));
}

LogSlope FitLogSlope(const std::vector<FitPoint>& points) {
  double wsum = 0, xbar = 0, mbar = 0;
  for (const FitPoint& p : points) {
    wsum += p.weight;
    xbar += p.weight * std::log10(p.x);
    mbar += p.weight * p.mean;
  }
  xbar /= wsum;
  mbar /= wsum;
  double sxx = 0, sxm = 0;
  for (const FitPoint& p : points) {
    const double dx = std::log10(p.x) - xbar;
    sxx += p.weight * dx * dx;
    sxm += p.weight * dx * (p.mean - mbar);
  }
  LogSlope out;
  out.slope = sxx > 0 ? sxm / sxx : 0;
  out.intercept = mbar - out.slope * xbar;
  return out;
}

}  // namespace forgetlab::stats
