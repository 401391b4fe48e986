// A small DEFLATE decoder in the manner of zlib's puff.c: canonical Huffman
// codes decoded bit by bit. Fast enough for datasets read once per process.
#include "worker/train/gunzip.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <stdexcept>
#include <vector>

namespace forgetlab::train {
namespace {

struct Corrupt : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class BitReader {
 public:
  BitReader(const std::string& in, size_t pos) : in_(in), pos_(pos) {}

  // The next `need` bits, least significant first.
  int Bits(int need) {
    uint32_t value = buffer_;
    while (count_ < need) {
      if (pos_ >= in_.size()) throw Corrupt("truncated compressed data");
      value |= uint32_t{static_cast<uint8_t>(in_[pos_++])} << count_;
      count_ += 8;
    }
    buffer_ = value >> need;
    count_ -= need;
    return static_cast<int>(value & ((1u << need) - 1));
  }
  // Drops the rest of the current byte.
  void Align() { buffer_ = 0, count_ = 0; }
  uint8_t Byte() {
    if (pos_ >= in_.size()) throw Corrupt("truncated data");
    return static_cast<uint8_t>(in_[pos_++]);
  }
  size_t position() const { return pos_; }

 private:
  const std::string& in_;
  size_t pos_;
  uint32_t buffer_ = 0;
  int count_ = 0;
};

constexpr int kMaxBits = 15;

struct Huffman {
  std::array<int, kMaxBits + 1> count{};  // codes of each length
  std::vector<int> symbol;                // symbols ordered by code
};

// Builds a canonical code from code lengths. Returns < 0 if over-subscribed,
// > 0 if incomplete, 0 if complete.
int Build(Huffman* h, const int* length, int n) {
  h->count.fill(0);
  for (int s = 0; s < n; ++s) h->count[length[s]]++;
  if (h->count[0] == n) return 0;
  int left = 1;
  for (int len = 1; len <= kMaxBits; ++len) {
    left = (left << 1) - h->count[len];
    if (left < 0) return left;
  }
  std::array<int, kMaxBits + 1> offset{};
  for (int len = 1; len < kMaxBits; ++len) {
    offset[len + 1] = offset[len] + h->count[len];
  }
  h->symbol.assign(n, 0);
  for (int s = 0; s < n; ++s) {
    if (length[s] != 0) h->symbol[offset[length[s]]++] = s;
  }
  return left;
}

int Decode(BitReader& in, const Huffman& h) {
  int code = 0, first = 0, index = 0;
  for (int len = 1; len <= kMaxBits; ++len) {
    code |= in.Bits(1);
    const int count = h.count[len];
    if (code - count < first) return h.symbol[index + (code - first)];
    index += count;
    first = (first + count) << 1;
    code <<= 1;
  }
  throw Corrupt("invalid Huffman code");
}

const int kLengthBase[29] = {3,  4,  5,  6,   7,   8,   9,   10,  11, 13,
                             15, 17, 19, 23,  27,  31,  35,  43,  51, 59,
                             67, 83, 99, 115, 131, 163, 195, 227, 258};
const int kLengthExtra[29] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2,
                              2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
const int kDistanceBase[30] = {1,    2,    3,    4,     5,     7,    9,    13,
                               17,   25,   33,   49,    65,    97,   129,  193,
                               257,  385,  513,  769,   1025,  1537, 2049, 3073,
                               4097, 6145, 8193, 12289, 16385, 24577};
const int kDistanceExtra[30] = {0, 0, 0,  0,  1,  1,  2,  2,  3,  3,
                                4, 4, 5,  5,  6,  6,  7,  7,  8,  8,
                                9, 9, 10, 10, 11, 11, 12, 12, 13, 13};

void Codes(BitReader& in, const Huffman& lengths, const Huffman& distances,
           std::string* out) {
  for (;;) {
    int symbol = Decode(in, lengths);
    if (symbol < 256) {
      out->push_back(static_cast<char>(symbol));
    } else if (symbol == 256) {
      return;
    } else {
      symbol -= 257;
      if (symbol >= 29) throw Corrupt("invalid length code");
      const int length = kLengthBase[symbol] + in.Bits(kLengthExtra[symbol]);
      const int d = Decode(in, distances);
      if (d >= 30) throw Corrupt("invalid distance code");
      const size_t distance =
          static_cast<size_t>(kDistanceBase[d] + in.Bits(kDistanceExtra[d]));
      if (distance > out->size()) throw Corrupt("distance too far back");
      const size_t from = out->size() - distance;
      for (int i = 0; i < length; ++i) out->push_back((*out)[from + i]);
    }
  }
}

void Stored(BitReader& in, std::string* out) {
  in.Align();
  const int length = in.Byte() | (in.Byte() << 8);
  const int inverse = in.Byte() | (in.Byte() << 8);
  if (length != (~inverse & 0xffff)) throw Corrupt("bad stored block length");
  for (int i = 0; i < length; ++i) out->push_back(static_cast<char>(in.Byte()));
}

void Fixed(BitReader& in, std::string* out) {
  static const auto* codes = [] {
    auto* h = new std::pair<Huffman, Huffman>();
    int length[288];
    for (int s = 0; s < 288; ++s) {
      length[s] = s < 144 ? 8 : s < 256 ? 9 : s < 280 ? 7 : 8;
    }
    Build(&h->first, length, 288);
    for (int s = 0; s < 30; ++s) length[s] = 5;
    Build(&h->second, length, 30);
    return h;
  }();
  Codes(in, codes->first, codes->second, out);
}

void Dynamic(BitReader& in, std::string* out) {
  static const int kOrder[19] = {16, 17, 18, 0, 8,  7, 9,  6, 10, 5,
                                 11, 4,  12, 3, 13, 2, 14, 1, 15};
  const int nlen = in.Bits(5) + 257, ndist = in.Bits(5) + 1,
            ncode = in.Bits(4) + 4;
  if (nlen > 286 || ndist > 30) throw Corrupt("bad code counts");
  int length[320] = {};
  for (int i = 0; i < ncode; ++i) length[kOrder[i]] = in.Bits(3);
  Huffman code_lengths;
  if (Build(&code_lengths, length, 19) != 0) throw Corrupt("bad code lengths");
  for (int i = 0; i < nlen + ndist;) {
    int symbol = Decode(in, code_lengths);
    if (symbol < 16) {
      length[i++] = symbol;
      continue;
    }
    int value = 0, repeat;
    if (symbol == 16) {
      if (i == 0) throw Corrupt("repeat with no previous length");
      value = length[i - 1];
      repeat = 3 + in.Bits(2);
    } else if (symbol == 17) {
      repeat = 3 + in.Bits(3);
    } else {
      repeat = 11 + in.Bits(7);
    }
    if (i + repeat > nlen + ndist) throw Corrupt("too many lengths");
    while (repeat-- > 0) length[i++] = value;
  }
  if (length[256] == 0) throw Corrupt("no end-of-block code");
  Huffman lengths, distances;
  const int l = Build(&lengths, length, nlen);
  if (l < 0 || (l > 0 && nlen - lengths.count[0] != 1)) {
    throw Corrupt("bad literal/length code");
  }
  const int d = Build(&distances, length + nlen, ndist);
  if (d < 0 || (d > 0 && ndist - distances.count[0] != 1)) {
    throw Corrupt("bad distance code");
  }
  Codes(in, lengths, distances, out);
}

uint32_t Crc32(const char* data, size_t n) {
  static const auto* table = [] {
    auto* t = new std::array<uint32_t, 256>();
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      (*t)[i] = c;
    }
    return t;
  }();
  uint32_t crc = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; ++i) {
    crc = (*table)[(crc ^ static_cast<uint8_t>(data[i])) & 0xff] ^ (crc >> 8);
  }
  return crc ^ 0xFFFFFFFFu;
}

uint32_t Le32(const std::string& s, size_t at) {
  return uint32_t{static_cast<uint8_t>(s[at])} |
         uint32_t{static_cast<uint8_t>(s[at + 1])} << 8 |
         uint32_t{static_cast<uint8_t>(s[at + 2])} << 16 |
         uint32_t{static_cast<uint8_t>(s[at + 3])} << 24;
}

}  // namespace

bool IsGzip(const std::string& data) {
  return data.size() >= 2 && static_cast<uint8_t>(data[0]) == 0x1f &&
         static_cast<uint8_t>(data[1]) == 0x8b;
}

bool Gunzip(const std::string& in, std::string* out, std::string* error) {
  out->clear();
  // A single member's uncompressed size is its last four bytes (mod 2^32).
  // DEFLATE expands at most ~1032:1, which bounds a corrupt trailer.
  if (in.size() >= 18) {
    out->reserve(std::min<size_t>(
        {Le32(in, in.size() - 4), in.size() * 1032, size_t{1} << 31}));
  }
  try {
    size_t pos = 0;
    do {
      if (in.size() - pos < 18 || !IsGzip(in.substr(pos, 2))) {
        throw Corrupt("not a gzip member at byte " + std::to_string(pos));
      }
      if (in[pos + 2] != 8) throw Corrupt("unknown compression method");
      const uint8_t flags = static_cast<uint8_t>(in[pos + 3]);
      BitReader reader(in, pos + 10);
      if (flags & 4) {  // FEXTRA
        const int extra = reader.Byte() | (reader.Byte() << 8);
        for (int i = 0; i < extra; ++i) reader.Byte();
      }
      if (flags & 8)
        while (reader.Byte() != 0) {
        }  // FNAME
      if (flags & 16)
        while (reader.Byte() != 0) {
        }                                           // FCOMMENT
      if (flags & 2) reader.Byte(), reader.Byte();  // FHCRC
      const size_t start = out->size();
      int last;
      do {
        last = reader.Bits(1);
        const int type = reader.Bits(2);
        if (type == 0) {
          Stored(reader, out);
        } else if (type == 1) {
          Fixed(reader, out);
        } else if (type == 2) {
          Dynamic(reader, out);
        } else {
          throw Corrupt("invalid block type");
        }
      } while (!last);
      pos = reader.position();
      if (in.size() - pos < 8) throw Corrupt("truncated gzip trailer");
      const size_t length = out->size() - start;
      if (Le32(in, pos) != Crc32(out->data() + start, length)) {
        throw Corrupt("CRC-32 mismatch");
      }
      if (Le32(in, pos + 4) != static_cast<uint32_t>(length)) {
        throw Corrupt("length mismatch");
      }
      pos += 8;
    } while (pos < in.size());
  } catch (const Corrupt& e) {
    *error = e.what();
    return false;
  }
  return true;
}

bool InflateIfGzip(std::string* data, std::string* error) {
  if (!IsGzip(*data)) return true;
  std::string inflated;
  if (!Gunzip(*data, &inflated, error)) return false;
  *data = std::move(inflated);
  return true;
}

}  // namespace forgetlab::train
