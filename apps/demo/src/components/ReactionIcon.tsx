/**
 * Reactions drawn as small icons rather than emoji characters: they look the same on
 * every system, including one without an emoji font (a CI machine, a bare Linux).
 * The data keeps the emoji as the reaction's key.
 */
export const REACTION_NAMES: Record<string, string> = { '👍': 'Thumbs up', '❤️': 'Heart', '⭐': 'Star', '👀': 'Eyes' };

export function ReactionIcon({ emoji }: { emoji: string }) {
  return (
    <svg className="reaction-icon" viewBox="0 0 24 24" width="18" height="18" aria-hidden="true" focusable="false">
      {emoji === '👍' && (
        <g fill="#e0a526">
          <rect x="2.5" y="10" width="4.5" height="10.5" rx="1" />
          <path d="M8.5 10.2 12.3 3c1.7 0 2.8 1.3 2.4 3L14 9.2h5.2c1.4 0 2.4 1.2 2.1 2.6l-1.4 6.8c-.2 1.1-1.1 1.9-2.2 1.9H8.5z" />
        </g>
      )}
      {emoji === '❤️' && <path fill="#e5484d" d="M12 20.5S3.6 15.4 2.4 9.9C1.6 6.6 3.8 4 6.8 4c2.2 0 3.6 1.2 5.2 3.1C13.6 5.2 15 4 17.2 4c3 0 5.2 2.6 4.4 5.9C20.4 15.4 12 20.5 12 20.5z" />}
      {emoji === '⭐' && <path fill="#f5b301" d="m12 2.5 2.9 6.1 6.7.8-4.9 4.6 1.3 6.6L12 17.3l-6 3.3 1.3-6.6-4.9-4.6 6.7-.8z" />}
      {emoji === '👀' && (
        <g>
          <ellipse cx="7.5" cy="12" rx="4.5" ry="6" fill="#fff" stroke="#555" strokeWidth="1.3" />
          <ellipse cx="16.5" cy="12" rx="4.5" ry="6" fill="#fff" stroke="#555" strokeWidth="1.3" />
          <circle cx="9" cy="13" r="2.2" fill="#222" />
          <circle cx="18" cy="13" r="2.2" fill="#222" />
        </g>
      )}
    </svg>
  );
}

/** The "add a reaction" face. */
export function AddReactionIcon() {
  return (
    <svg className="reaction-icon" viewBox="0 0 24 24" width="18" height="18" aria-hidden="true" focusable="false">
      <g fill="none" stroke="currentColor" strokeWidth="1.7" strokeLinecap="round">
        <path d="M19.5 11.5a8 8 0 1 1-7-7.9" />
        <path d="M8.5 14.5c1.8 2 5.2 2 7 0" />
        <path d="M19 2.5v6M16 5.5h6" />
      </g>
      <circle cx="9" cy="10" r="1.2" fill="currentColor" />
      <circle cx="15" cy="10" r="1.2" fill="currentColor" />
    </svg>
  );
}
