#include "store/sqlite_util.hpp"

namespace cg::store::sql {

Db::Db(const std::string& path, int flags) {
  int rc = sqlite3_open_v2(path.c_str(), &db_, flags, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
    sqlite3_close(db_);
    db_ = nullptr;
    throw SqlError(rc, "open " + path + ": " + msg);
  }
  sqlite3_extended_result_codes(db_, 1);
}

Db::~Db() {
  if (db_) sqlite3_close_v2(db_);
}

Db& Db::operator=(Db&& o) noexcept {
  if (this != &o) {
    if (db_) sqlite3_close_v2(db_);
    db_ = o.db_;
    o.db_ = nullptr;
  }
  return *this;
}

void Db::raise(int rc, std::string_view what) const {
  throw SqlError(rc, std::string(what) + ": " + (db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc)));
}

void Db::exec(const char* sql) {
  char* err = nullptr;
  int rc = sqlite3_exec(db_, sql, nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    std::string msg = err ? err : sqlite3_errstr(rc);
    sqlite3_free(err);
    throw SqlError(rc, std::string("exec: ") + msg);
  }
}

Stmt::Stmt(const Db& db, const char* sql) : db_(db.get()) {
  int rc = sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &s_, nullptr);
  if (rc != SQLITE_OK) db.raise(rc, std::string("prepare ") + sql);
}

Stmt::~Stmt() {
  if (s_) sqlite3_finalize(s_);
}

Stmt& Stmt::operator=(Stmt&& o) noexcept {
  if (this != &o) {
    if (s_) sqlite3_finalize(s_);
    s_ = o.s_;
    db_ = o.db_;
    o.s_ = nullptr;
  }
  return *this;
}

namespace {
void check(sqlite3* db, int rc) {
  if (rc != SQLITE_OK) throw SqlError(rc, std::string("bind: ") + sqlite3_errmsg(db));
}
}  // namespace

Stmt& Stmt::bind(int i, std::int64_t v) { check(db_, sqlite3_bind_int64(s_, i, v)); return *this; }
Stmt& Stmt::bind(int i, double v) { check(db_, sqlite3_bind_double(s_, i, v)); return *this; }
Stmt& Stmt::bind_text(int i, std::string_view v) {
  check(db_, sqlite3_bind_text64(s_, i, v.data(), v.size(), SQLITE_TRANSIENT, SQLITE_UTF8));
  return *this;
}
Stmt& Stmt::bind_blob(int i, std::span<const std::uint8_t> v) {
  // a zero-length blob must stay a blob, not NULL
  static const std::uint8_t empty = 0;
  check(db_, sqlite3_bind_blob64(s_, i, v.empty() ? &empty : v.data(), v.size(), SQLITE_TRANSIENT));
  return *this;
}
Stmt& Stmt::bind_null(int i) { check(db_, sqlite3_bind_null(s_, i)); return *this; }

bool Stmt::step() {
  int rc = sqlite3_step(s_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  std::string msg = sqlite3_errmsg(db_);
  sqlite3_reset(s_);
  throw SqlError(rc, "step: " + msg);
}

void Stmt::reset() {
  sqlite3_reset(s_);
  sqlite3_clear_bindings(s_);
}

std::string Stmt::text(int col) const {
  auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s_, col));
  return p ? std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(s_, col))) : std::string();
}

std::span<const std::uint8_t> Stmt::blob(int col) const {
  auto* p = static_cast<const std::uint8_t*>(sqlite3_column_blob(s_, col));
  return {p, static_cast<std::size_t>(sqlite3_column_bytes(s_, col))};
}

}  // namespace cg::store::sql
