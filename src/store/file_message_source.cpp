#include "store/file_message_source.hpp"

#include "store/posix_io.hpp"

namespace postern::store {

std::size_t FileMessageSource::read(std::span<char> buf) {
  return read_some(fd_.get(), buf, path_);
}

}  // namespace postern::store
