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
  // Callers pass a named callable (not a temporary built inside the co_await expression:
  // g++ 12 destroys such temporaries twice).
  template <class Fn>
  auto run(Fn fn) -> asio::awaitable<std::invoke_result_t<Fn&>> {
    return asio::co_spawn(pool_.get_executor(), invoke(std::move(fn)), asio::use_awaitable);
  }

  void join() { pool_.join(); }

 private:
  // A coroutine taking fn as a parameter, not a capturing coroutine lambda: parameters live in
  // the coroutine frame, lambda captures do not (and g++ 12 mishandles their destruction).
  template <class Fn>
  static auto invoke(Fn fn) -> asio::awaitable<std::invoke_result_t<Fn&>> {
    co_return fn();
  }

  asio::thread_pool pool_;
};

}  // namespace postern::net
