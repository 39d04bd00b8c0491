#pragma once
#include "store/sqlite_util.hpp"

namespace cg::store {
// Brings the database to the newest schema with numbered migrations tracked in
// PRAGMA user_version. Each migration runs in its own transaction. A database newer than this
// binary is refused (downgrades are not silent).
void migrate(sql::Db& db);
inline constexpr int kSchemaVersion = 2;
}  // namespace cg::store
