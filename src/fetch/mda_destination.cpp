#include "fetch/mda_destination.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include "fetch/error.hpp"
#include "fetch/spool.hpp"
#include "fetch/subprocess.hpp"
#include "store/posix_io.hpp"

namespace postern::fetch {
namespace {

constexpr int ex_tempfail = 75;

// Copies the spool into the command's stdin. False when the command stopped reading (EPIPE):
// its exit status then says what happened.
bool feed(int spool_fd, int to, const std::filesystem::path& spool) {
  std::vector<char> buf(64 * 1024);
  off_t at = 0;
  while (true) {
    const ssize_t n = ::pread(spool_fd, buf.data(), buf.size(), at);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw from_store_error(store::errno_error(errno, "cannot read", spool));
    if (n == 0) return true;
    at += n;
    std::string_view rest(buf.data(), static_cast<std::size_t>(n));
    while (!rest.empty()) {
      const ssize_t w = ::write(to, rest.data(), rest.size());
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) return false;
      rest.remove_prefix(static_cast<std::size_t>(w));
    }
  }
}

class MdaDelivery final : public Delivery {
 public:
  MdaDelivery(const std::string& command, const std::filesystem::path& spool)
      : command_(command), spool_(open_spool(spool)) {}

  void write(std::string_view content) override { spool_.write(content); }

  void commit(const std::function<void(const std::string&)>& record_intent) override {
    spool_.flush();
    // Journaled only now, right before the command can act: a message whose turn never came
    // is not one that "may arrive twice".
    record_intent("mda");
    ShellProcess child = spawn_shell(command_, true, false);
    const bool all_read = feed(spool_.fd(), child.stdin_fd.get(), spool_.path());
    child.stdin_fd.reset();
    const int status = wait_for_exit(child.pid);
    if (status == 0) return;
    if (status == ex_tempfail) {
      throw FetchError(ErrorKind::temporary,
                       fmt::format("the MDA \"{}\" deferred the message (exit 75); it is tried "
                                   "again next run",
                                   command_));
    }
    throw FetchError(ErrorKind::failure,
                     fmt::format("the MDA \"{}\" failed with exit status {}{}", command_, status,
                                 all_read ? "" : " before reading the whole message"));
  }

  void abort() noexcept override {}

 private:
  std::string command_;
  BufferedFile spool_;
};

class MdaDestination final : public Destination {
 public:
  MdaDestination(std::string command, std::filesystem::path spool)
      : command_(std::move(command)), spool_(std::move(spool)) {}
  std::string plan() override { return {}; }
  std::unique_ptr<Delivery> begin(const std::string&) override {
    return std::make_unique<MdaDelivery>(command_, spool_);
  }
  void sync() override {}
  bool done_must_be_durable() const override { return true; }
  std::string describe() const override { return "MDA " + command_; }

 private:
  std::string command_;
  std::filesystem::path spool_;
};

}  // namespace

std::unique_ptr<Destination> make_mda_destination(const std::string& command,
                                                  const std::filesystem::path& spool) {
  return std::make_unique<MdaDestination>(command, spool);
}

}  // namespace postern::fetch
