-- Erasing a user is one DELETE on users: this trigger removes everything else stored about
-- them inside that same statement, so no other write can land halfway through an erasure.
-- (reminders also cascade through their foreign key; listed here too, so a connection with
-- foreign keys off erases them as well)
CREATE TRIGGER users_erased AFTER DELETE ON users BEGIN
    DELETE FROM reminders WHERE user_id = old.user_id;
    DELETE FROM chat_messages WHERE user_id = old.user_id;
    DELETE FROM chat_leftovers WHERE user_id = old.user_id;
END;
