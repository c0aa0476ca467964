// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";

import {CertificateVerifier} from "./CertificateVerifier.sol";
import {FastPayTypes} from "./FastPayTypes.sol";
import {TokenVault} from "./TokenVault.sol";

/// @title OfflinePaymentProcessor
/// @notice Settles FastPay REDEMPTIONS on-chain: certificates whose `order.recipient` is this
///         contract's own address (the "redemption address"). Authorities debit the sender of
///         such a certificate and credit no FastPay account (the money leaves FastPay); here
///         the amount moves from the vault's pool to the SENDER's withdrawable vault balance,
///         from where they withdraw. Any other certificate is an internal FastPay transfer,
///         already paid inside FastPay, and is refused (`NotARedemption`): otherwise one
///         certificate could be paid twice, once by the authorities and once on-chain.
///         Replay protection in the FastPay style: per sender, a certificate settles only if
///         its sequence is above the last one redeemed (`redeemedUpTo[sender]` = last + 1).
///         Two paths:
///         - `submitBatch` / `processOfflinePayment`: each certificate carries its own quorum
///           of authority votes, verified one by one (simple, about 3 ecrecovers each);
///         - `submitCommitteeBatch`: the committee signs ONE EIP-712 `Batch` over compact
///           items (after checking every certificate in it); the quorum is verified once.
///         In both batch paths a bad item is skipped with `CertificateRejected` and never
///         reverts the batch.
contract OfflinePaymentProcessor is AccessControl, Pausable, ReentrancyGuard {
    bytes32 public constant GUARDIAN_ROLE = keccak256("GUARDIAN_ROLE");
    bytes32 public constant SETTLER_ROLE = keccak256("SETTLER_ROLE");

    TokenVault public immutable vault;
    CertificateVerifier public immutable verifier;

    /// @notice Per sender: last redeemed sequence + 1 (0 = nothing redeemed yet).
    mapping(address sender => uint256) public redeemedUpTo;
    /// @notice Id the next committee batch must carry (batches settle in order, once).
    uint64 public nextBatchId;

    /// @notice `units` of `token` moved from the pool to `beneficiary`'s vault balance for the
    ///         redemption (`sender`, `sequence`); the beneficiary is always the sender.
    event PaymentSettled(
        address indexed sender, uint64 sequence, address indexed beneficiary, address token, uint256 units
    );
    /// @notice Item `index` of a batch was skipped; `reason` is the selector of the error
    ///         it would have reverted with (see the errors here and in CertificateVerifier).
    event CertificateRejected(uint256 indexed index, address indexed sender, uint64 sequence, bytes4 reason);
    event CommitteeBatchSettled(
        uint64 indexed batchId, uint64 indexed epoch, bytes32 itemsHash, uint256 items, uint256 settled
    );

    error SequenceAlreadyRedeemed();
    /// @dev The certificate's recipient is not this contract (a committee-batch item's
    ///      beneficiary is not its sender): an internal FastPay transfer, never settled here.
    error NotARedemption();
    error ZeroRecipient();
    error LengthMismatch();
    error EmptyBatch();
    error MalformedItems();
    error CreditFailed();
    error BatchOutOfOrder(uint64 expected, uint64 given);
    /// @dev Wraps a CertificateVerifier reason when a single settlement reverts.
    error CertificateInvalid(bytes4 reason);

    /// @param admin Receives DEFAULT_ADMIN_ROLE.
    /// @param guardian Receives GUARDIAN_ROLE (may pause).
    /// @param vault_ The vault (this contract needs its PROCESSOR_ROLE).
    /// @param verifier_ The FastPay EIP-712 domain and quorum checks.
    constructor(address admin, address guardian, TokenVault vault_, CertificateVerifier verifier_) {
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(GUARDIAN_ROLE, guardian);
        vault = vault_;
        verifier = verifier_;
    }

    // ---------------------------------------------------------------- per-certificate path

    /// @notice True when `signatures` are a valid quorum of votes for `order`: a pure quorum
    ///         check. It says nothing about settlement: the order may already be redeemed, or
    ///         not be a redemption at all (`order.recipient != address(this)`), and then
    ///         `processOfflinePayment` refuses it.
    function verifyCertificate(FastPayTypes.TransferOrder calldata order, bytes calldata signatures)
        external
        view
        returns (bool)
    {
        return verifier.verifyCertificate(order, signatures);
    }

    /// @notice Settle one redemption certificate (`order.recipient == address(this)`) to the
    ///         sender's vault balance; anyone may call (a user's own way to the chain).
    /// @dev Reverts `NotARedemption()` for any other recipient, `CertificateInvalid(reason)`
    ///      for a replayed sequence or a bad quorum, or with the vault's error.
    /// @return True on success (reverts otherwise).
    function processOfflinePayment(FastPayTypes.TransferOrder calldata order, bytes calldata signatures)
        external
        whenNotPaused
        nonReentrant
        returns (bool)
    {
        if (order.recipient != address(this)) revert NotARedemption();
        bytes4 reason = _checkCertificate(order, signatures);
        if (reason != bytes4(0)) revert CertificateInvalid(reason);
        redeemedUpTo[order.sender] = uint256(order.sequence) + 1;
        vault.credit(order.token, order.sender, order.amount);
        emit PaymentSettled(order.sender, order.sequence, order.sender, order.token, order.amount);
        return true;
    }

    /// @notice Settle many redemption certificates, each with its own quorum, each to its
    ///         sender's vault balance; bad ones (including any whose recipient is not this
    ///         contract: `NotARedemption`) are skipped with `CertificateRejected`.
    /// @param orders Transfer orders (amounts in ledger units).
    /// @param signatures For each order, its authorities' votes (65 bytes each, ascending signer).
    /// @return settled Number of certificates settled.
    function submitBatch(FastPayTypes.TransferOrder[] calldata orders, bytes[] calldata signatures)
        external
        onlyRole(SETTLER_ROLE)
        whenNotPaused
        nonReentrant
        returns (uint256 settled)
    {
        if (orders.length != signatures.length) revert LengthMismatch();
        if (orders.length == 0) revert EmptyBatch();
        for (uint256 i = 0; i < orders.length; ++i) {
            FastPayTypes.TransferOrder calldata order = orders[i];
            bytes4 reason = order.recipient != address(this)
                ? NotARedemption.selector
                : _checkCertificate(order, signatures[i]);
            if (reason == bytes4(0)) reason = _settle(order.sender, order.sequence, order.token, order.amount);
            if (reason == bytes4(0)) ++settled;
            else emit CertificateRejected(i, order.sender, order.sequence, reason);
        }
    }

    // ---------------------------------------------------------------- committee batch path

    /// @notice Settle a batch of redemptions signed once by a quorum of the `epoch` committee.
    /// @dev Items: two words each.
    ///      word 0 = sender << 96 | sequence << 32 | tokenId (vault token id)
    ///      word 1 = beneficiary << 96 | amount (ledger units, < 2**96)
    ///      Every item stands for a redemption certificate, so its beneficiary MUST be its
    ///      sender (checked here: an item whose beneficiary differs is skipped with
    ///      `NotARedemption`); the word is kept (rather than implied) so the committee's
    ///      signature names who gets paid and word 1 is exactly the vault's credit word.
    ///      The committee signs EIP-712 Batch(epoch, batchId, itemsHash) with
    ///      itemsHash = keccak256 of the concatenated words. A bad signature set reverts the
    ///      whole call; an item that is not a redemption, already redeemed, for an unknown
    ///      token, from the zero address or above what the pool holds is skipped with
    ///      CertificateRejected. Accepted items are credited by one vault call (the per-item
    ///      cost is what the gas target is about).
    /// @return settled Number of items settled.
    function submitCommitteeBatch(
        uint64 epoch,
        uint64 batchId,
        bytes32[] calldata items,
        bytes calldata signatures
    ) external onlyRole(SETTLER_ROLE) whenNotPaused nonReentrant returns (uint256 settled) {
        uint256 words = items.length;
        if (words == 0) revert EmptyBatch();
        if (words % 2 != 0) revert MalformedItems();
        if (batchId != nextBatchId) revert BatchOutOfOrder(nextBatchId, batchId);
        bytes32 itemsHash = keccak256(abi.encodePacked(items));
        bytes4 reason = verifier.quorumStatus(verifier.batchDigest(epoch, batchId, itemsHash), epoch, signatures);
        if (reason != bytes4(0)) revert CertificateInvalid(reason);
        nextBatchId = batchId + 1;

        TokenCache memory cache = _newCache();
        uint256[] memory credits = new uint256[](words);
        for (uint256 w = 0; w < words;) {
            uint256 head = uint256(items[w]);
            uint256 tail = uint256(items[w + 1]);
            address sender = address(uint160(head >> 96));
            uint64 sequence = uint64(head >> 32);
            reason = _acceptItem(cache, sender, sequence, uint32(head), tail);
            // Unchecked: w, settled <= words, far below 2**255 (indexing stays bounds-checked).
            unchecked {
                w += 2;
                if (reason != bytes4(0)) {
                    emit CertificateRejected(w / 2 - 1, sender, sequence, reason);
                    continue;
                }
                credits[2 * settled] = uint32(head);
                credits[2 * settled + 1] = tail;
                ++settled;
            }
            emit PaymentSettled(sender, sequence, sender, cache.token[uint32(head)], uint96(tail));
        }
        if (settled != 0) {
            assembly ("memory-safe") {
                mstore(credits, mul(settled, 2)) // shrink to the accepted items
            }
            vault.creditBatch(credits);
        }
        emit CommitteeBatchSettled(batchId, epoch, itemsHash, words / 2, settled);
    }

    // ---------------------------------------------------------------- emergency

    /// @notice Stop all settlement (guardian).
    function pause() external onlyRole(GUARDIAN_ROLE) {
        _pause();
    }

    /// @notice Resume settlement (admin).
    function unpause() external onlyRole(DEFAULT_ADMIN_ROLE) {
        _unpause();
    }

    // ---------------------------------------------------------------- internals

    /// @dev Replay and quorum of one certificate (the caller has checked it is a redemption).
    function _checkCertificate(FastPayTypes.TransferOrder calldata order, bytes calldata signatures)
        private
        view
        returns (bytes4)
    {
        if (order.sequence < redeemedUpTo[order.sender]) return SequenceAlreadyRedeemed.selector;
        return verifier.certificateStatus(order, signatures);
    }

    /// @dev Credits a redemption to its sender. Effects first (replay slot), then the vault; a
    ///      vault refusal (unknown token, pool too small, ...) undoes the replay slot and
    ///      becomes the rejection reason.
    function _settle(address sender, uint64 sequence, address token, uint256 units) private returns (bytes4) {
        uint256 previous = redeemedUpTo[sender];
        redeemedUpTo[sender] = uint256(sequence) + 1;
        try vault.credit(token, sender, units) {
            emit PaymentSettled(sender, sequence, sender, token, units);
            return bytes4(0);
        } catch (bytes memory err) {
            redeemedUpTo[sender] = previous;
            // a revert without a selector (out of gas, bare revert) must not read as success
            return err.length >= 4 ? bytes4(err) : CreditFailed.selector;
        }
    }

    /// @dev What a committee batch may still take from the pool, per vault token id, so an
    ///      item the vault could not pay is skipped here instead of reverting the vault's
    ///      single credit call. `poolLeft[id]` stores pool + 1 once loaded (0 = not loaded).
    struct TokenCache {
        address[] token;
        uint256[] scale;
        uint256[] poolLeft;
    }

    function _newCache() private view returns (TokenCache memory cache) {
        uint256 count = vault.tokenCount();
        cache.token = new address[](count);
        cache.scale = new uint256[](count);
        cache.poolLeft = new uint256[](count);
    }

    /// @dev Checks one committee-batch item and, if it can settle, records its sequence and
    ///      reserves its amount in `cache`. Returns 0 or the skip reason.
    function _acceptItem(TokenCache memory cache, address sender, uint64 sequence, uint256 tokenId, uint256 tail)
        private
        returns (bytes4)
    {
        if (tail >> 96 != uint160(sender)) return NotARedemption.selector;
        if (sender == address(0)) return ZeroRecipient.selector;
        if (sequence < redeemedUpTo[sender]) return SequenceAlreadyRedeemed.selector;
        if (tokenId >= cache.token.length) return TokenVault.UnknownTokenId.selector;
        uint256 left = cache.poolLeft[tokenId];
        if (left == 0) {
            uint256 pool;
            (cache.token[tokenId], cache.scale[tokenId], pool) = vault.tokenState(tokenId);
            left = pool + 1;
        }
        uint256 amount = uint256(uint96(tail)) * cache.scale[tokenId];
        if (amount >= left) return TokenVault.InsufficientPool.selector;
        cache.poolLeft[tokenId] = left - amount;
        redeemedUpTo[sender] = uint256(sequence) + 1;
        return bytes4(0);
    }
}
