#include "store/path_template.hpp"

#include <fmt/format.h>

#include <stdexcept>
#include <string_view>

#include "store/printable.hpp"

namespace postern::store {
namespace {

std::string_view local_part(std::string_view user) {
  return user.substr(0, user.find('@'));
}

std::string_view domain(std::string_view user) {
  const auto at = user.find('@');
  return at == std::string_view::npos ? std::string_view{} : user.substr(at + 1);
}

// Upstream already vets user names; this is the last check before a name becomes a path, and it is
// cheap: "." or "..", a '/', or an empty local part would step out of the template's own component.
std::string_view checked(std::string_view value, std::string_view what, const MaildropOwner& owner,
                         bool may_be_empty = false) {
  const bool safe = value != "." && value != ".." && value.find('/') == std::string_view::npos &&
                    value.find('\0') == std::string_view::npos && (may_be_empty || !value.empty());
  if (safe) return value;
  throw StoreError(StoreErrc::permanent,
                   fmt::format("the {} of user {} cannot be used in a maildir path", what,
                               printable(owner.user)));
}

}  // namespace

PathTemplate::PathTemplate(std::string text) : text_(std::move(text)) {
  for (std::size_t i = 0; i < text_.size(); ++i) {
    if (text_[i] != '%') {
      add_literal(text_[i]);
      continue;
    }
    if (i + 1 == text_.size())
      throw std::invalid_argument(fmt::format(
          "maildir template \"{}\" ends with a lone '%' (write %% for a literal '%')", text_));
    switch (const char code = text_[++i]; code) {
      case 'u': pieces_.push_back({Field::user, {}}); break;
      case 'n': pieces_.push_back({Field::local_part, {}}); break;
      case 'd': pieces_.push_back({Field::domain, {}}); break;
      case 'h': pieces_.push_back({Field::home, {}}); break;
      case '%': add_literal('%'); break;
      default:
        throw std::invalid_argument(fmt::format(
            "maildir template \"{}\" has unknown sequence \"%{}\" (known: %u %n %d %h %%)", text_,
            code));
    }
  }
}

void PathTemplate::add_literal(char c) {
  if (pieces_.empty() || pieces_.back().field != Field::literal)
    pieces_.push_back({Field::literal, {}});
  pieces_.back().literal.push_back(c);
}

std::string_view PathTemplate::value_of(const Piece& piece, const MaildropOwner& owner) const {
  switch (piece.field) {
    case Field::literal: return piece.literal;
    case Field::user: return checked(owner.user, "name", owner);
    case Field::local_part: return checked(local_part(owner.user), "local part", owner);
    case Field::domain: return checked(domain(owner.user), "domain", owner, /*may_be_empty=*/true);
    case Field::home: break;
  }
  if (owner.home.empty())
    throw StoreError(StoreErrc::permanent,
                     fmt::format("user {} has no home, but the maildir template \"{}\" uses %h",
                                 printable(owner.user), text_));
  return owner.home;
}

std::filesystem::path PathTemplate::expand(const MaildropOwner& owner) const {
  std::string out;
  for (const Piece& piece : pieces_) out += value_of(piece, owner);
  return std::filesystem::path(std::move(out));
}

}  // namespace postern::store
