// BlockingPool: where work that may block (password hashing, fsync, directory scans, file reads)
// runs, so that no event-loop thread ever waits on a disk or a hash.
#pragma once

#include <asio/co_spawn.hpp>
#include <asio/thread_pool.hpp>
#include <asio/use_awaitable.hpp>
#include <type_traits>
#include <utility>

namespace postern::net {

class BlockingPool {
 public:
  explicit BlockingPool(std::size_t threads) : pool_(threads) {}

  // Runs fn() on a pool thread and resumes the caller on its own executor with the result.
  // An exception thrown by fn() is rethrown in the caller.
  template <class Fn>
  auto run(Fn fn) -> asio::awaitable<std::invoke_result_t<Fn&>> {
    using Result = std::invoke_result_t<Fn&>;
    co_return co_await asio::co_spawn(
        pool_.get_executor(),
        [fn = std::move(fn)]() mutable -> asio::awaitable<Result> { co_return fn(); },
        asio::use_awaitable);
  }

  void join() { pool_.join(); }

 private:
  asio::thread_pool pool_;
};

}  // namespace postern::net
