// One open Maildir maildrop: the lock, the snapshot taken at open, reading and deleting messages.
// Files are found again by unique name when another Maildir reader renamed them to change flags.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "store/file_name_list.hpp"
#include "store/maildir_snapshot.hpp"
#include "store/maildrop.hpp"
#include "store/maildrop_lock.hpp"
#include "store/unique_fd.hpp"

namespace postern::store {

class MaildirMaildrop final : public Maildrop {
 public:
  // Creates the maildir if missing, locks it, moves new/ to cur/ and takes the snapshot.
  static std::unique_ptr<Maildrop> open(const std::filesystem::path& maildir,
                                        std::string_view user);

  const std::vector<MessageInfo>& messages() const override { return messages_; }
  std::unique_ptr<MessageSource> open_message(std::size_t index) override;
  std::unique_ptr<MessageSource> open_message_cached(std::size_t index) override;
  void commit_deletions(std::span<const std::size_t> indexes) override;
  void forget_cached(std::size_t index) override;

 private:
  MaildirMaildrop(std::filesystem::path maildir, MaildropLock lock, bool took_new_mail,
                  Snapshot snapshot);

  std::filesystem::path file_path(std::size_t index) const {
    return cur_dir_ / files_.name(file_of_[index]);
  }
  void check_index(std::size_t index) const;
  std::string_view unique_name(std::size_t index) const {
    return files_.unique_name(file_of_[index]);
  }
  // cur/, opened again on first use after open(): an idle session holds only its lock's descriptor.
  int cur_fd();
  int open_file(std::size_t index, UniqueFd& fd);
  std::vector<std::size_t> remove_files(std::span<const std::size_t> indexes,
                                        std::optional<StoreError>& failure);
  void refresh_names(std::span<const std::size_t> indexes);
  void make_removals_durable();
  void rewrite_index() const;

  std::filesystem::path maildir_;
  std::filesystem::path cur_dir_;
  MaildropLock lock_;
  UniqueFd cur_fd_;     // see cur_fd()
  bool took_new_mail_;  // renames out of new/ must be made durable along with any deletion
  std::vector<MessageInfo> messages_;
  FileNameList files_;  // cur/ at open, and names found after another reader's rename
  std::vector<std::uint32_t> file_of_;  // by message index: its current name in files_
  std::vector<bool> removed_;           // by message index
  std::vector<bool> forgotten_;         // by message index: left out of the index (forget_cached)
};

}  // namespace postern::store
