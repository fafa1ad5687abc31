#include "store/file_message_source.hpp"

#include "store/posix_io.hpp"

namespace postern::store {

std::size_t FileMessageSource::read(std::span<char> buf) {
  return read_some(fd_.get(), buf, path_);
}

std::optional<std::size_t> FileMessageSource::read_cached(std::span<char> buf) {
  return store::read_cached(fd_.get(), buf);
}

}  // namespace postern::store
