// BlockingPool under contention, as the server uses it: coroutines on several event loops (one
// thread each) hand work to a small pool at the same time. Plain (non-atomic) data goes to the
// pool thread and comes back, so ThreadSanitizer sees whether each hand-off really orders it.
#include <gtest/gtest.h>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <atomic>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "net/blocking_pool.hpp"

namespace postern::net {
namespace {

constexpr int loop_count = 3;
constexpr int tasks_per_loop = 150;
constexpr int calls_per_task = 4;

// What one coroutine records; each is touched by its coroutine and the pool, never shared.
struct TaskRecord {
  std::string input;  // written on the loop, read on the pool
  std::string seen_on_pool;
  std::size_t results = 0;
  std::size_t failures = 0;
  bool consistent = true;  // the pool saw each call's input; each resumed on its own loop
};

asio::awaitable<void> use_pool(BlockingPool& pool, asio::io_context& loop, TaskRecord& record,
                               int task) {
  for (int call = 0; call < calls_per_task; ++call) {
    record.input = "task " + std::to_string(task) + " call " + std::to_string(call);
    if ((task + call) % 5 == 0) {
      auto fail = [&record]() -> std::unique_ptr<std::string> {
        record.seen_on_pool = record.input;
        throw std::runtime_error("refused: " + record.input);
      };
      try {
        co_await pool.run(fail);
      } catch (const std::runtime_error& e) {
        if (std::string(e.what()) == "refused: " + record.input) ++record.failures;
      }
    } else {
      // A move-only result, as MaildropStore::open returns one.
      auto work = [&record] {
        record.seen_on_pool = record.input;
        return std::make_unique<std::string>(record.input + " done");
      };
      const auto result = co_await pool.run(work);
      if (result && *result == record.input + " done") ++record.results;
    }
    if (record.seen_on_pool != record.input) record.consistent = false;
    if (!loop.get_executor().running_in_this_thread()) record.consistent = false;
  }
}

TEST(BlockingPoolConcurrency, CoroutinesOnSeveralLoopsShareTwoWorkers) {
  BlockingPool pool(2);
  std::vector<std::unique_ptr<asio::io_context>> loops;
  std::vector<std::vector<TaskRecord>> records(loop_count);
  for (int l = 0; l < loop_count; ++l) {
    loops.push_back(std::make_unique<asio::io_context>(1));
    records[l].resize(tasks_per_loop);
    for (int t = 0; t < tasks_per_loop; ++t) {
      asio::co_spawn(*loops[l], use_pool(pool, *loops[l], records[l][t], t), asio::detached);
    }
  }
  std::vector<std::thread> threads;
  for (auto& loop : loops) threads.emplace_back([&loop] { loop->run(); });
  for (auto& thread : threads) thread.join();
  pool.join();

  std::size_t results = 0;
  std::size_t failures = 0;
  for (const auto& per_loop : records) {
    for (const auto& record : per_loop) {
      EXPECT_TRUE(record.consistent) << record.input;
      results += record.results;
      failures += record.failures;
    }
  }
  std::size_t expected_failures = 0;
  for (int t = 0; t < tasks_per_loop; ++t) {
    for (int call = 0; call < calls_per_task; ++call) expected_failures += (t + call) % 5 == 0;
  }
  EXPECT_EQ(failures, expected_failures * loop_count);
  EXPECT_EQ(results + failures, std::size_t{loop_count * tasks_per_loop * calls_per_task});
}

struct ShutdownCounts {
  std::atomic<int> submitted{0};
  std::atomic<int> started{0};
  std::atomic<int> finished{0};
  std::atomic<int> resumed{0};
};

asio::awaitable<void> slow_call(BlockingPool& pool, ShutdownCounts& counts) {
  auto work = [&counts] {
    ++counts.started;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
    ++counts.finished;
    return 1;
  };
  ++counts.submitted;
  co_await pool.run(work);
  ++counts.resumed;
}

// The server's shutdown order: another thread stops the loops while work is still queued on
// the pool, the pool is joined (finishing that work), then the loops are destroyed with the
// coroutines that never resumed.
TEST(BlockingPoolConcurrency, LoopsStopWhileWorkIsInFlight) {
  constexpr int per_loop = 50;
  BlockingPool pool(2);
  ShutdownCounts counts;
  {
    std::vector<std::unique_ptr<asio::io_context>> loops;
    for (int l = 0; l < loop_count; ++l) {
      loops.push_back(std::make_unique<asio::io_context>(1));
      for (int t = 0; t < per_loop; ++t) {
        asio::co_spawn(*loops.back(), slow_call(pool, counts), asio::detached);
      }
    }
    std::vector<std::thread> threads;
    for (auto& loop : loops) {
      threads.emplace_back([&loop] {
        auto guard = asio::make_work_guard(*loop);
        loop->run();
      });
    }
    for (int i = 0; i < 10000 && counts.started.load() < 10; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    for (auto& loop : loops) loop->stop();
    for (auto& thread : threads) thread.join();
    pool.join();
    // join() finished everything handed over, although nobody waits for the results any more.
    EXPECT_GE(counts.started.load(), 10);
    EXPECT_EQ(counts.finished.load(), counts.submitted.load());
  }  // the loops go here, with the coroutines still waiting on them
  EXPECT_LE(counts.resumed.load(), counts.finished.load());
}

}  // namespace
}  // namespace postern::net
