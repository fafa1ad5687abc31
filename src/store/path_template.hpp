// Maildir location templates such as "/var/mail/%d/%n": parsed once, when the configuration loads,
// so a typo fails at startup; expanded per login without parsing again.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "store/maildrop.hpp"

namespace postern::store {

class PathTemplate {
 public:
  // %u user name, %n its local part (before the first '@'; the whole name if none), %d its domain
  // (after the first '@'; empty if none), %h the owner's home, %% a '%'. Anything else after a '%',
  // or a '%' at the end, throws std::invalid_argument naming the template and the sequence.
  explicit PathTemplate(std::string text);

  // Throws StoreError(permanent) when a user-derived part could step out of its path component
  // ("." or "..", a '/', an empty local part) or when %h is used and the owner has no home.
  std::filesystem::path expand(const MaildropOwner& owner) const;

  const std::string& text() const noexcept { return text_; }

 private:
  enum class Field { literal, user, local_part, domain, home };
  struct Piece {
    Field field;
    std::string literal;  // only for Field::literal
  };

  void add_literal(char c);
  std::string_view value_of(const Piece& piece, const MaildropOwner& owner) const;

  std::string text_;
  std::vector<Piece> pieces_;
};

}  // namespace postern::store
