#pragma once
// Modbus device profiles: which registers a meter model has and how to read them. Pure data and
// pure functions (parsing TOML text, planning reads); the only I/O is load_profile() reading a file.
//
// A profile is a TOML file (firmware-config/profiles/<name>.toml, installed to
// /etc/citygate/profiles/):
//
//   name = "eastron_sdm120"            # optional; when given it must equal the file's stem
//   description = "..."                # optional
//   word_order = "abcd"                # default order of 32-bit values (abcd|cdab|badc|dcba)
//   max_registers_per_read = 125       # 1..125 (the Modbus limit for functions 3 and 4)
//   max_gap = 0                        # unused registers one read may bridge (0..124)
//
//   [[registers]]
//   metric = "voltage"                 # reading metric, unique in the profile
//   function = "input"                 # "input" (0x04 read input registers) | "holding" (0x03)
//   address = 0                        # 0-based PDU address, 0..65535 (see below)
//   type = "float32"                   # int16 | uint16 | int32 | uint32 | float32
//   word_order = "cdab"                # optional; 32-bit types only; else the profile's
//   scale = 0.1                        # optional multiplier, default 1
//   unit = "V"                         # optional reading unit
//
// Addresses are the 0-based addresses sent in the request PDU. Manuals often print 1-based
// "register numbers" with a function prefix: input register 30001 is address 0 (N - 30001),
// holding register 40001 is address 0 (N - 40001); "30073" is address 72 = 0x0048.
//
// Word order names the order in which the value's bytes A (most significant) .. D travel on the
// wire, two per register: abcd = big-endian, high word first (the Modbus default, Eastron);
// cdab = low word first; badc = bytes swapped in each register; dcba = little-endian.
//
// Errors are Disposition::fatal with code "profile" and a message that names the file and, for
// TOML syntax errors, the line and column; for a bad register, its index and metric.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/profiles.hpp"
#include "core/result.hpp"

namespace cg::modbus {

enum class Function : std::uint8_t { holding = 0x03, input = 0x04 };
enum class ValueKind : std::uint8_t { int16, uint16, int32, uint32, float32 };
enum class WordOrder : std::uint8_t { abcd, cdab, badc, dcba };

inline constexpr int kMaxReadRegisters = 125;  // Modbus application protocol, functions 3 and 4
inline constexpr std::size_t kMaxProfileRegisters = 2000;

std::string_view function_name(Function f);
std::string_view kind_name(ValueKind k);
std::string_view word_order_name(WordOrder o);

// Registers a value of this kind occupies (1 or 2).
inline int width(ValueKind k) { return (k == ValueKind::int16 || k == ValueKind::uint16) ? 1 : 2; }

struct Register {
  std::string metric;
  Function function = Function::input;
  std::uint16_t address = 0;
  ValueKind kind = ValueKind::float32;
  WordOrder order = WordOrder::abcd;  // resolved (the register's own, else the profile's)
  double scale = 1.0;
  std::string unit;

  int end() const { return address + width(kind); }  // one past the last register it uses
};

struct Profile {
  std::string name;
  std::string description;
  int max_registers_per_read = kMaxReadRegisters;
  int max_gap = 0;
  std::vector<Register> registers;  // in file order (the order readings come out in)
};

// Parses profile TOML text. `source` names it in messages (a path, or "<text>"); `name` is the
// profile's name when the text has none (the file stem).
Result<Profile> parse_profile(std::string_view toml_text, std::string_view source, std::string_view name);

// Reads and parses one file.
Result<Profile> load_profile(const std::filesystem::path& file);

// Where profile `name` lives (shared by every kind with profiles).
using adapters::profile_path;

// One request: `count` registers from `start`, covering the profile registers `regs` (indices).
struct ReadBlock {
  Function function = Function::input;
  std::uint16_t start = 0;
  std::uint16_t count = 0;
  std::vector<std::size_t> regs;
};

// Groups the registers into as few reads as possible: per function, by address, a read grows
// while the next register starts at most `max_gap` registers after its end and the read stays
// within max_registers_per_read. Input reads come before holding reads, each by address.
std::vector<ReadBlock> plan_reads(const Profile& p);

}  // namespace cg::modbus
